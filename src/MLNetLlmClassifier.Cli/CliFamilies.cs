using MLNetLlmClassifier.Families;

namespace MLNetLlmClassifier.Cli;

/// <summary>The families the CLI adds to the core library's built-in ones (families that live in packages of their own).</summary>
public static class CliFamilies
{
    /// <summary>Registers them (idempotent); the CLI does it before building its commands.</summary>
    public static void EnsureRegistered()
    {
        ClassifierFamilies.Register(MlNetTextClassification.MlNetTextClassificationFamily.Instance);
    }
}

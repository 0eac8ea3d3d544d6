using MLNetLlmClassifier.Tests.MLNet;

namespace MLNetLlmClassifier.Tests;

/// <summary>
/// Entry point of the test assembly, replacing the empty one Microsoft.NET.Test.Sdk would generate
/// (GenerateProgramFile is false), so a test can run code in a fresh process:
/// <c>dotnet MLNetLlmClassifier.Tests.dll &lt;command&gt; &lt;args&gt;</c>. The test host never calls it.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args is [MlNetInternalsTests.LoadCommand, var modelPath])
            return MlNetInternalsTests.LoadInFreshProcess(modelPath);
        if (args is [AutomaticRegistrationTests.ScoreCommand, var zip, .. var texts])
            return AutomaticRegistrationTests.ScoreWithoutRegistration(zip, texts);
        Console.Error.WriteLine($"usage: dotnet MLNetLlmClassifier.Tests.dll {MlNetInternalsTests.LoadCommand} <model.zip>");
        return 2;
    }
}

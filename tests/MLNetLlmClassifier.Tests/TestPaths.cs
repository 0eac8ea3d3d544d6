namespace MLNetLlmClassifier.Tests;

/// <summary>Paths of the repository and of the shared read-only data next to it (../shared).</summary>
public static class TestPaths
{
    /// <summary>The folder holding MLNetLlmClassifier.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>A path under ../shared relative to the repository root, e.g. Shared("data", "ag_news", "test.csv").</summary>
    public static string Shared(params string[] parts) =>
        Path.GetFullPath(Path.Combine([RepoRoot, "..", "shared", .. parts]));

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLNetLlmClassifier.sln")))
                return dir.FullName;
        throw new DirectoryNotFoundException($"No folder containing MLNetLlmClassifier.sln above {AppContext.BaseDirectory}.");
    }
}

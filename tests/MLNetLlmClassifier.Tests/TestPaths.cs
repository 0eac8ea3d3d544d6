namespace MLNetLlmClassifier.Tests;

/// <summary>Locates the repository root and the read-only shared data next to it (../shared).</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(FindRepoRoot);

    /// <summary>The folder that holds MLNetLlmClassifier.sln (found by walking up from the test binaries).</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>A path under ../shared relative to the repository root.</summary>
    public static string Shared(params string[] parts) =>
        Path.GetFullPath(Path.Combine([RepoRoot, "..", "shared", .. parts]));

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLNetLlmClassifier.sln")))
                return dir.FullName;
        throw new InvalidOperationException(
            $"No folder containing MLNetLlmClassifier.sln above {AppContext.BaseDirectory}.");
    }
}

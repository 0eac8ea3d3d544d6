namespace MLNetLlmClassifier.Tests;

/// <summary>Locates the repository root and the shared read-only data next to it (<c>../shared</c>).</summary>
public static class TestPaths
{
    private static readonly Lazy<string> Root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "MLNetLlmClassifier.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"No folder above {AppContext.BaseDirectory} contains MLNetLlmClassifier.sln.");
    });

    /// <summary>The folder that contains MLNetLlmClassifier.sln.</summary>
    public static string RepoRoot => Root.Value;

    /// <summary>A path under the shared data folder, <c>RepoRoot/../shared/parts...</c>.</summary>
    public static string Shared(params string[] parts) =>
        Path.GetFullPath(Path.Combine([RepoRoot, "..", "shared", .. parts]));
}

namespace MLNetLlmClassifier.IO;

/// <summary>Folders that appear whole or not at all.</summary>
public static class AtomicFolder
{
    /// <summary>
    /// Builds a folder next to its destination and renames it into place, so that a failure leaves
    /// nothing half-written. The destination must not exist or be empty.
    /// </summary>
    public static void Build(string outDir, Action<string> build)
    {
        var full = Path.GetFullPath(outDir);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any())
            throw new IOException($"'{outDir}' exists and is not empty.");
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = TempArtifacts.Sibling(full);
        using var tracked = TempArtifacts.Track(tmp);
        Directory.CreateDirectory(tmp);
        try
        {
            build(tmp);
            if (Directory.Exists(full)) Directory.Delete(full);
            Directory.Move(tmp, full);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }
}

using System.Text.Json;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Reports;

/// <summary>
/// Replaces a whole output folder at once: the new contents are written into a temporary sibling folder, then the
/// old folder is renamed aside, the new one renamed into place, and the old one deleted. Readers see either the old
/// report or the new one, never a mix; if writing fails the old folder is untouched. (Two renames are needed because
/// a non-empty folder cannot be renamed over another; between them the path briefly does not exist.)
/// </summary>
internal static class ReportFolder
{
    /// <summary>Writes a new folder with <paramref name="write"/> and puts it at <paramref name="folder"/>.</summary>
    /// <param name="folder">Target folder. If it exists it must be empty or hold a report.json whose "format" starts with <paramref name="formatFamily"/>.</param>
    /// <param name="formatFamily">The report format without its version, e.g. "mlnet-llm-comparison/": marks a folder as safe to replace.</param>
    /// <param name="write">Writes the files into the folder it is given.</param>
    public static void Replace(string folder, string formatFamily, Action<string> write)
    {
        string target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder));
        string parent = Path.GetDirectoryName(target)
            ?? throw new IOException($"Cannot write a report to '{target}': it is a file-system root.");
        string name = Path.GetFileName(target);
        if (File.Exists(target))
            throw new IOException($"Cannot write a report to '{target}': it is a file, not a folder.");
        if (Directory.Exists(target) && !IsReplaceable(target, formatFamily))
            throw new IOException($"Cannot write a report to '{target}': the folder exists and is neither empty nor an earlier comparison report " +
                $"(no report.json with a format \"{formatFamily}...\"), so it is left alone. Choose a new or empty folder.");

        Directory.CreateDirectory(parent);
        string temp = TempArtifacts.Sibling(target), old = TempArtifacts.Sibling(target, "old");
        using var trackedTemp = TempArtifacts.Track(temp);
        using var trackedOld = TempArtifacts.Track(old);
        Directory.CreateDirectory(temp);
        try
        {
            write(temp);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }

        if (!Directory.Exists(target))
        {
            Directory.Move(temp, target);
            return;
        }
        Directory.Move(target, old);
        try
        {
            Directory.Move(temp, target);
        }
        catch
        {
            Directory.Move(old, target);
            TryDelete(temp);
            throw;
        }
        TryDelete(old);
    }

    /// <summary>An empty folder, or one whose report.json declares a format of the given family (any version).</summary>
    private static bool IsReplaceable(string folder, string formatFamily)
    {
        if (!Directory.EnumerateFileSystemEntries(folder).Any()) return true;
        string json = Path.Combine(folder, ComparisonReport.JsonFile);
        if (!File.Exists(json)) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(json));
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("format", out var f)
                && f.ValueKind == JsonValueKind.String
                && f.GetString()!.StartsWith(formatFamily, StringComparison.Ordinal);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static void TryDelete(string folder)
    {
        try { Directory.Delete(folder, recursive: true); }
        catch (IOException) { /* best effort: a leftover hidden temp folder harms nothing */ }
        catch (UnauthorizedAccessException) { }
    }
}

using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace MLNetLlmClassifier.IO;

/// <summary>
/// Temporary files and folders that must not outlive their writer. Every name carries the writing process's id
/// (<c>&lt;prefix&gt;&lt;pid&gt;-&lt;guid&gt;</c>), so that an entry left by a killed process can be told from one another live
/// process is still writing:
/// <list type="bullet">
/// <item>a writer deletes its own entry on every exit path it controls (<c>finally</c>, and <see cref="DeleteTracked"/> on a
/// forced exit such as a second Ctrl-C, and on <see cref="AppDomain.ProcessExit"/>);</item>
/// <item>what a kill leaves behind (SIGKILL, power loss) is removed by the next writer of the same kind
/// (<see cref="RemoveStale"/>): an entry whose owner process is dead (or whose id now belongs to a process started after the
/// entry was last written) and that was last written more than <see cref="StaleAfter"/> ago. Entries named without a process
/// id (by earlier versions) are removed when older than <see cref="LegacyStaleAfter"/>.</item>
/// </list>
/// </summary>
internal static class TempArtifacts
{
    /// <summary>How old an entry of a dead process must be before it is removed.</summary>
    internal static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(1);

    /// <summary>How old an entry without a process id must be before it is removed.</summary>
    internal static readonly TimeSpan LegacyStaleAfter = TimeSpan.FromDays(1);

    private static readonly ConcurrentDictionary<string, byte> Tracked = new(StringComparer.Ordinal);

    static TempArtifacts() => AppDomain.CurrentDomain.ProcessExit += (_, _) => DeleteTracked();

    /// <summary>A fresh name: <paramref name="prefix"/>, this process's id, '-', a GUID.</summary>
    internal static string NewName(string prefix) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");

    /// <summary>
    /// A fresh temporary path beside <paramref name="target"/> (same folder, so that a rename into place is atomic), named
    /// <c>.&lt;name&gt;.&lt;tag&gt;-&lt;pid&gt;-&lt;guid&gt;</c>, after removing what dead writers left there under that prefix
    /// (<see cref="RemoveStale"/>). Track it (<see cref="Track"/>) while it exists.
    /// </summary>
    internal static string Sibling(string target, string tag = "tmp")
    {
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        string folder = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{target}' is a file-system root.", nameof(target));
        string prefix = $".{Path.GetFileName(full)}.{tag}-";
        RemoveStale(folder, prefix);
        return Path.Combine(folder, NewName(prefix));
    }

    /// <summary>
    /// A fresh scratch path in the system temp folder, <c>&lt;prefix&gt;&lt;pid&gt;-&lt;guid&gt;</c>, after removing what dead
    /// writers left there under <paramref name="prefix"/>. Track it (<see cref="Track"/>) while it exists.
    /// </summary>
    internal static string Scratch(string prefix)
    {
        string folder = Path.GetTempPath();
        RemoveStale(folder, prefix);
        return Path.Combine(folder, NewName(prefix));
    }

    /// <summary>Registers a temporary path for deletion on a forced exit; dispose the result once the path is gone or renamed.</summary>
    internal static IDisposable Track(string path)
    {
        Tracked[path] = 0;
        return new Untrack(path);
    }

    private sealed class Untrack(string path) : IDisposable
    {
        public void Dispose() => Tracked.TryRemove(path, out _);
    }

    /// <summary>Deletes every tracked path still present (best effort; used on a forced exit and at process exit).</summary>
    internal static void DeleteTracked()
    {
        foreach (var path in Tracked.Keys)
        {
            TryDelete(path);
            Tracked.TryRemove(path, out _);
        }
    }

    /// <summary>
    /// Removes the entries of <paramref name="folder"/> named <paramref name="prefix"/>* that their writers left behind (see the
    /// class remarks). Best effort: an entry that cannot be removed is left for the next run. Returns the number removed.
    /// </summary>
    internal static int RemoveStale(string folder, string prefix)
    {
        int removed = 0;
        IEnumerable<string> entries;
        try
        {
            if (!Directory.Exists(folder)) return 0;
            entries = Directory.EnumerateFileSystemEntries(folder, prefix + "*").ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
        var now = DateTime.UtcNow;
        foreach (var entry in entries)
        {
            string rest = Path.GetFileName(entry)[prefix.Length..];
            DateTime written;
            try { written = Directory.Exists(entry) ? Directory.GetLastWriteTimeUtc(entry) : File.GetLastWriteTimeUtc(entry); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            bool stale = OwnerId(rest) is { } pid
                ? now - written > StaleAfter && !IsAlive(pid, written)
                : now - written > LegacyStaleAfter;
            if (stale && TryDelete(entry)) removed++;
        }
        return removed;
    }

    /// <summary>The process id in a name written by <see cref="NewName"/> (after the prefix), or null for another name.</summary>
    private static int? OwnerId(string rest)
    {
        int dash = rest.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 && int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0
            ? pid : null;
    }

    /// <summary>Whether process <paramref name="pid"/> runs and started before <paramref name="written"/> (so it may own the entry).</summary>
    private static bool IsAlive(int pid, DateTime written)
    {
        if (pid == Environment.ProcessId) return true;
        try
        {
            using var p = Process.GetProcessById(pid);
            if (p.HasExited) return false;
            // A process started after the entry was last written cannot be its writer: the id was reused.
            return p.StartTime.ToUniversalTime() <= written.AddSeconds(2);
        }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or NotSupportedException) { return true; }
    }

    private static bool TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            else File.Delete(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}

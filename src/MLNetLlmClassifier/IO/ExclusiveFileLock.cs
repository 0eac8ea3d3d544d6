using System.Globalization;
using System.Text;

namespace MLNetLlmClassifier.IO;

/// <summary>
/// An exclusive lock on an output (a sweep's folder, a model file being trained): a lock file held open with
/// <see cref="FileShare.None"/> for as long as the output is written. On Linux and macOS .NET takes an advisory <c>flock</c>
/// on it, which another FileStream (in this or another process) asking for FileShare.None cannot take; on Windows the share
/// mode itself excludes. The kernel releases the lock when the process exits, however it exits, so a lock file left by a
/// crashed or killed writer is stale and does not block (only the lock matters, not the file). The owner's process id and
/// start time go to a plain file next to it (<c>&lt;lock&gt;.owner</c>; reading the locked file itself would need the lock),
/// for the message a second writer gets.
/// </summary>
internal sealed class ExclusiveFileLock : IDisposable
{
    /// <summary>Suffix of the owner file, after the lock file's name.</summary>
    internal const string OwnerSuffix = ".owner";

    private readonly FileStream _stream;
    private readonly bool _deleteOnRelease;

    private ExclusiveFileLock(FileStream stream, string path, bool deleteOnRelease)
    {
        _stream = stream;
        Path = path;
        _deleteOnRelease = deleteOnRelease;
    }

    /// <summary>The lock file.</summary>
    internal string Path { get; }

    /// <summary>Takes the lock at <paramref name="lockPath"/> (its folder is created) or fails at once.</summary>
    /// <param name="lockPath">The lock file.</param>
    /// <param name="inUse">The one-line message when another writer holds the lock, given the owner ("process 12 on host,
    /// started ...") and the lock file.</param>
    /// <param name="deleteOnRelease">Remove the lock and owner files on release (for a lock next to a user's file); otherwise
    /// they stay, unlocked.</param>
    /// <exception cref="IOException">Another writer holds the lock: <paramref name="inUse"/>'s message.</exception>
    internal static ExclusiveFileLock Acquire(string lockPath, Func<string, string, string> inUse, bool deleteOnRelease = false)
    {
        string full = System.IO.Path.GetFullPath(lockPath);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(full)!);
        FileStream stream;
        try
        {
            stream = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException)
        {
            throw new IOException(inUse(Owner(full + OwnerSuffix), full), e);
        }
        try
        {
            var owner = string.Create(CultureInfo.InvariantCulture,
                $"process {Environment.ProcessId} on {Environment.MachineName}, started {DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss zzz}\n");
            File.WriteAllText(full + OwnerSuffix, owner, new UTF8Encoding(false));
            return new ExclusiveFileLock(stream, full, deleteOnRelease);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Who holds the lock, as the owner file says (best effort).</summary>
    private static string Owner(string path)
    {
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > 1024) return "owner unknown";
            string text = File.ReadAllText(path).Trim();
            return text.Length > 0 && !text.Contains('\n', StringComparison.Ordinal) && !text.Any(char.IsControl) ? text : "owner unknown";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "owner unknown";
        }
    }

    /// <summary>Releases the lock (and, with deleteOnRelease, removes its files while still holding it).</summary>
    public void Dispose()
    {
        if (_deleteOnRelease)
        {
            try
            {
                File.Delete(Path + OwnerSuffix);
                File.Delete(Path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* an unlocked lock file blocks nothing */ }
        }
        _stream.Dispose();
    }
}

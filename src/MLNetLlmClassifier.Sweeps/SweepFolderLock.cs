using System.Globalization;
using System.Text;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// Exclusive use of a sweep's output folder: a lock file (<see cref="FileName"/>) held open with <see cref="FileShare.None"/>
/// while the sweep runs. On Linux and macOS .NET takes an advisory <c>flock</c> on it, which another FileStream (in this or
/// another process) asking for FileShare.None cannot take; on Windows the share mode itself excludes. The kernel releases
/// the lock when the process exits, however it exits, so a lock file left by a crashed or killed sweep is stale and does not
/// block (the file stays; only the lock matters). The owner's process id and start time go to <see cref="OwnerFileName"/>
/// (a plain file: reading the locked file itself would need the lock), for the message.
/// </summary>
internal sealed class SweepFolderLock : IDisposable
{
    /// <summary>The lock file's name in the output folder.</summary>
    internal const string FileName = ".sweep.lock";

    /// <summary>Who holds (or last held) the lock: process id, machine, start time.</summary>
    internal const string OwnerFileName = ".sweep.lock.owner";

    private readonly FileStream _stream;

    private SweepFolderLock(FileStream stream) => _stream = stream;

    /// <summary>Takes the folder (created if needed) or fails at once.</summary>
    /// <exception cref="IOException">Another sweep holds the folder: one line naming the folder and the owner.</exception>
    internal static SweepFolderLock Acquire(string folder)
    {
        string full = Path.GetFullPath(folder);
        Directory.CreateDirectory(full);
        string path = Path.Combine(full, FileName);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException)
        {
            throw new IOException($"The sweep output folder {full} is in use by another sweep ({Owner(Path.Combine(full, OwnerFileName))}; lock file {path}): wait for it to finish or choose another folder.", e);
        }
        try
        {
            var owner = string.Create(CultureInfo.InvariantCulture,
                $"process {Environment.ProcessId} on {Environment.MachineName}, started {DateTimeOffset.Now:yyyy-MM-dd HH:mm:ss zzz}\n");
            File.WriteAllText(Path.Combine(full, OwnerFileName), owner, new UTF8Encoding(false));
            return new SweepFolderLock(stream);
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
            return text.Length > 0 && !text.Contains('\n') && !text.Any(char.IsControl) ? text : "owner unknown";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "owner unknown";
        }
    }

    /// <summary>Releases the folder (the lock file stays, unlocked).</summary>
    public void Dispose() => _stream.Dispose();
}

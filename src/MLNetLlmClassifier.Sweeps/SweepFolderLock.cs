using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Sweeps;

/// <summary>
/// Exclusive use of a sweep's output folder: an <see cref="ExclusiveFileLock"/> on <see cref="FileName"/> in the folder while
/// the sweep runs. A lock file left by a crashed or killed sweep does not block (the kernel dropped its lock with the
/// process); the file stays, unlocked. The owner's process id and start time are in <see cref="OwnerFileName"/>.
/// </summary>
internal static class SweepFolderLock
{
    /// <summary>The lock file's name in the output folder.</summary>
    internal const string FileName = ".sweep.lock";

    /// <summary>Who holds (or last held) the lock: process id, machine, start time.</summary>
    internal const string OwnerFileName = FileName + ExclusiveFileLock.OwnerSuffix;

    /// <summary>Takes the folder (created if needed) or fails at once.</summary>
    /// <exception cref="IOException">Another sweep holds the folder: one line naming the folder and the owner.</exception>
    internal static ExclusiveFileLock Acquire(string folder)
    {
        string full = Path.GetFullPath(folder);
        return ExclusiveFileLock.Acquire(Path.Combine(full, FileName), (owner, path) =>
            $"The sweep output folder {full} is in use by another sweep ({owner}; lock file {path}): wait for it to finish or choose another folder.");
    }
}

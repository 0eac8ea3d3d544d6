using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.IO;

namespace MLNetLlmClassifier.Hub;

/// <summary>
/// The Hugging Face hub cache, laid out exactly as huggingface_hub lays it out, so that files fetched by
/// transformers or huggingface-cli are reused here and the other way round:
/// <code>
/// {cache}/models--owner--name/
///     blobs/{etag}                   file contents, named by the hub's ETag (sha256 for LFS files, git blob sha1 otherwise)
///     blobs/{etag}.incomplete        a download in progress, resumed from its length
///     refs/{revision}                the commit hash a branch or tag pointed to when last resolved (no newline)
///     snapshots/{commit}/{file}      relative symlink to ../../blobs/{etag} (a copy where symlinks cannot be made)
/// {cache}/.locks/models--owner--name/{etag}.lock   held while a blob downloads (flock, as huggingface_hub's filelock)
/// {cache}/models--owner--name/.sha256/{etag}       this library's addition: the sha256 of a blob whose ETag is not a hash
/// </code>
/// What is verified: every downloaded blob has the size the hub reports; a blob named by a hash (the hub's sha256 for LFS
/// files, git blob sha1 for others) has that hash. A blob whose ETag is not a hash (a mirror or proxy) cannot be checked
/// against the hub beyond its size: its sha256 is computed on download and recorded in .sha256/, and a reused blob with
/// such a record is checked against it (a mismatch deletes the blob, which is then downloaded again). Blobs found in the
/// cache without a record (written by huggingface_hub, or named by a hash) are trusted by name, as huggingface_hub does.
/// </summary>
internal sealed class HubCache(string root)
{
    /// <summary>The cache folder.</summary>
    public string Root { get; } = root;

    public string RepoFolder(HubModelId id) => Path.Combine(Root, id.CacheFolderName);

    public string BlobPath(HubModelId id, string etag) => Path.Combine(RepoFolder(id), "blobs", etag);

    public string SnapshotFolder(HubModelId id, string commit) => Path.Combine(RepoFolder(id), "snapshots", commit);

    /// <summary>The commit a revision resolves to from the cache alone: itself if it is a commit hash, else refs/{revision}.</summary>
    public string? CachedCommit(HubModelId id)
    {
        if (id.RevisionIsCommit) return id.Revision;
        string refPath = Path.Combine(RepoFolder(id), "refs", id.Revision);
        if (!File.Exists(refPath)) return null;
        string commit = File.ReadAllText(refPath).Trim();
        return HubModelId.CommitHash().IsMatch(commit) ? commit : null;
    }

    /// <summary>Records that <paramref name="id"/>'s revision points to <paramref name="commit"/> (nothing to do for a commit hash).</summary>
    public void WriteRef(HubModelId id, string commit)
    {
        if (id.Revision == commit) return;
        string refPath = Path.Combine(RepoFolder(id), "refs", id.Revision);
        // Rewritten only when it changed: a read-only shared cache that is up to date keeps working.
        if (File.Exists(refPath) && File.ReadAllText(refPath) == commit) return;
        Directory.CreateDirectory(Path.GetDirectoryName(refPath)!);
        AtomicFile.WriteAllBytes(refPath, System.Text.Encoding.ASCII.GetBytes(commit));
    }

    /// <summary>
    /// Whether a snapshot folder holds a loadable model: config.json and the safetensors weights (a single file, or
    /// the index and every shard it names). Returns null when complete, else what is missing. Tokenizer files are not
    /// required: which ones a repository has is only known from the hub.
    /// </summary>
    public static string? MissingFromSnapshot(string snapshot)
    {
        if (!Directory.Exists(snapshot)) return $"no snapshot folder {snapshot}";
        if (!IsUsableFile(Path.Combine(snapshot, HfModelFolder.ConfigFileName))) return $"{HfModelFolder.ConfigFileName} is missing from {snapshot}";
        if (IsUsableFile(Path.Combine(snapshot, HfModelFolder.WeightsFileName))) return null;
        string index = Path.Combine(snapshot, HfModelFolder.WeightsIndexFileName);
        if (!IsUsableFile(index)) return $"neither {HfModelFolder.WeightsFileName} nor {HfModelFolder.WeightsIndexFileName} is in {snapshot}";
        IEnumerable<string> shards;
        try { shards = HfModelFolder.ReadWeightMap(index).Values.Distinct(); }
        catch (InvalidDataException e) { return e.Message; }
        string? missing = shards.FirstOrDefault(s => !IsUsableFile(Path.Combine(snapshot, s)));
        return missing is null ? null : $"shard {missing} named by {index} is missing";
    }

    /// <summary>A regular file, or a symlink whose target exists (File.Exists is true for a dangling symlink).</summary>
    public static bool IsUsableFile(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) return false;
        return info.LinkTarget is null || info.ResolveLinkTarget(returnFinalTarget: true) is { Exists: true };
    }

    /// <summary>
    /// Makes snapshots/{commit}/{file} point at a blob: a relative symlink as huggingface_hub makes it, atomically
    /// (made under a temporary name, then renamed over the pointer). Where symlinks cannot be made (Windows without
    /// developer mode, some network drives) the blob is moved there if it was just downloaded, else copied.
    /// </summary>
    public static void LinkIntoSnapshot(string blobPath, string pointerPath, bool newBlob)
    {
        string dir = Path.GetDirectoryName(pointerPath)!;
        Directory.CreateDirectory(dir);
        string tmp = IO.TempArtifacts.Sibling(pointerPath);
        using var tracked = IO.TempArtifacts.Track(tmp);
        try
        {
            File.CreateSymbolicLink(tmp, Path.GetRelativePath(dir, blobPath));
            File.Move(tmp, pointerPath, overwrite: true);
            return;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            TryDelete(tmp);
        }
        if (newBlob)
        {
            File.Move(blobPath, pointerPath, overwrite: true);
            return;
        }
        AtomicFile.Write(pointerPath, dest =>
        {
            using var source = File.OpenRead(blobPath);
            source.CopyTo(dest);
        });
    }

    /// <summary>
    /// Takes the download lock of one blob, {cache}/.locks/models--owner--name/{etag}.lock, waiting while another
    /// process holds it. On Unix .NET takes FileShare.None as an flock, the same lock Python's filelock takes.
    /// </summary>
    public async Task<FileStream> LockBlobAsync(HubModelId id, string etag, TimeSpan timeout, CancellationToken ct)
    {
        string lockPath = Path.Combine(Root, ".locks", id.CacheFolderName, etag + ".lock");
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (IsLockContention(e))
            {
                if (DateTime.UtcNow >= deadline)
                    throw new HubException(HubErrorKind.LockTimeout, id.RepoId,
                        $"Another process has been downloading {id.RepoId} blob {etag} for over {timeout.TotalMinutes:0.#} min " +
                        $"(it holds {lockPath}). Wait for it to finish, or stop it and run again.", e);
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct).ConfigureAwait(false);
            }
        }
    }

    // EWOULDBLOCK/EAGAIN (11 on Linux, 35 on macOS) from flock; ERROR_SHARING_VIOLATION / ERROR_LOCK_VIOLATION on Windows.
    private static bool IsLockContention(IOException e) =>
        e.HResult is 11 or 35
        || ((e.HResult & 0xFFFF) is 32 or 33 && (e.HResult & unchecked((int)0xFFFF0000)) == unchecked((int)0x80070000));

    /// <summary>Whether an I/O error means the disk is full (ENOSPC on Unix, ERROR_DISK_FULL / ERROR_HANDLE_DISK_FULL on Windows).</summary>
    public static bool IsDiskFull(IOException e) =>
        e.HResult == 28
        || e.HResult == unchecked((int)0x80070070) || e.HResult == unchecked((int)0x80070027)
        || e.Message.Contains("No space left", StringComparison.OrdinalIgnoreCase)
        || e.Message.Contains("not enough space", StringComparison.OrdinalIgnoreCase);

    /// <summary>Where the sha256 of a blob whose ETag is not a hash is recorded: {repo}/.sha256/{etag}.</summary>
    public static string Sha256RecordPath(string blobPath) =>
        Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(blobPath)!)!, ".sha256", Path.GetFileName(blobPath));

    /// <summary>Records the sha256 of a blob (before the blob itself is renamed into place).</summary>
    public static void WriteSha256Record(string blobPath, string sha256)
    {
        string record = Sha256RecordPath(blobPath);
        Directory.CreateDirectory(Path.GetDirectoryName(record)!);
        AtomicFile.WriteAllBytes(record, System.Text.Encoding.ASCII.GetBytes(sha256));
    }

    /// <summary>
    /// Whether a cached blob may be used: true when it has no sha256 record (named by a hash, or written by another tool)
    /// or matches its record. A blob that does not match is deleted with its record, so that it is downloaded again.
    /// </summary>
    public static bool MatchesSha256Record(string blobPath)
    {
        string record = Sha256RecordPath(blobPath);
        if (!File.Exists(record)) return true;
        string expected = File.ReadAllText(record).Trim();
        if (File.Exists(blobPath) && Sha256Of(blobPath) == expected) return true;
        TryDelete(blobPath);
        TryDelete(record);
        return false;
    }

    /// <summary>The sha256 of a file, lower-case hex.</summary>
    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream)).ToLowerInvariant();
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { /* best effort */ }
        catch (UnauthorizedAccessException) { }
    }
}

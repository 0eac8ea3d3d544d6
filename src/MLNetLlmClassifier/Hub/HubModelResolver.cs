using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Hub;

/// <summary>
/// Turns what a user typed for a model (<c>--bert</c>, <c>--qwen3</c>) into a local model folder: an existing folder as
/// is, or a Hugging Face hub id (<c>Qwen/Qwen3-0.6B</c>, <c>google-bert/bert-base-cased@main</c>) downloaded into the
/// standard Hugging Face cache, shared with transformers and huggingface-cli (see docs/hub.md and <see cref="HubOptions"/>).
/// </summary>
/// <remarks>
/// Only what loading a classifier needs is fetched: config.json, the tokenizer files the repository has, and the
/// safetensors weights (model.safetensors, or model.safetensors.index.json and every shard it lists). Pickle weights
/// (pytorch_model.bin) are never downloaded. Downloads are resumable, verified against the size and hash the hub
/// reports, and renamed into the cache only once complete.
/// </remarks>
public static class HubModelResolver
{
    /// <summary>
    /// Returns a local folder holding the model: <paramref name="modelOrId"/> itself if it is an existing folder, else the
    /// cache snapshot of the hub id, downloading what is missing.
    /// </summary>
    /// <param name="modelOrId">A model folder, or <c>owner/name[@revision]</c>.</param>
    /// <param name="options">Endpoint, cache, token and offline settings; null reads them all from the environment.</param>
    /// <param name="progress">Receives the progress of each file downloaded (files already cached are not reported).</param>
    /// <param name="ct">Cancels the downloads; what was fetched is kept and resumed next time.</param>
    /// <returns>The full path of the model folder (for hub ids, <c>{cache}/models--owner--name/snapshots/{commit}</c>).</returns>
    /// <exception cref="ArgumentException"><paramref name="modelOrId"/> is neither an existing folder nor shaped like a hub id.</exception>
    /// <exception cref="HubException">The model could not be had; <see cref="HubException.Kind"/> says why, the message what to do.</exception>
    public static string Resolve(string modelOrId, HubOptions? options = null, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default) =>
        // The work is asynchronous (HttpClient); run it off any synchronization context so blocking here cannot deadlock.
        Task.Run(() => ResolveAsync(modelOrId, options, progress, ct), ct).GetAwaiter().GetResult();

    /// <inheritdoc cref="Resolve"/>
    public static async Task<string> ResolveAsync(string modelOrId, HubOptions? options = null, IProgress<DownloadProgress>? progress = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelOrId);
        if (Directory.Exists(modelOrId))
            return Path.GetFullPath(modelOrId);
        if (File.Exists(modelOrId))
            throw new ArgumentException(
                $"'{Path.GetFullPath(modelOrId)}' is a file; give a model folder (config.json and model.safetensors) or a hub id like Qwen/Qwen3-0.6B.",
                nameof(modelOrId));
        if (!HubModelId.TryParse(modelOrId, out var id, out string? why))
            throw new ArgumentException(
                $"'{modelOrId}' is neither an existing folder (there is no {Path.GetFullPath(modelOrId)}) nor a Hugging Face hub id ({why}). " +
                "Give a model folder, or a hub id like Qwen/Qwen3-0.6B or google-bert/bert-base-cased, optionally with @revision.",
                nameof(modelOrId));

        var settings = (options ?? new HubOptions()).Resolve();
        var cache = new HubCache(settings.CacheDirectory);
        if (settings.Offline)
            return FromCache(cache, id, offlineReason: "HF_HUB_OFFLINE is set, so only the cache is used");

        using var client = new HubClient(settings);
        RepoInfo info;
        try
        {
            info = await client.GetRepoInfoAsync(id, ct).ConfigureAwait(false);
        }
        catch (HubUnreachableException e)
        {
            // As huggingface_hub's snapshot_download: with no network, a snapshot already in the cache is good enough.
            return FromCache(cache, id, offlineReason: e.Message, inner: e);
        }

        try
        {
            return await DownloadSnapshotAsync(client, cache, id, info, progress, ct).ConfigureAwait(false);
        }
        catch (HubUnreachableException e)
        {
            throw new HubException(HubErrorKind.Offline, id.RepoId,
                $"{e.Message} while downloading {id} into {cache.RepoFolder(id)}. Run again when the hub is reachable " +
                "(finished files are kept), or use a local model folder.", e);
        }
    }

    /// <summary>Fetches what the snapshot of <paramref name="info"/>'s commit lacks (the index before its shards) and returns its folder.</summary>
    private static async Task<string> DownloadSnapshotAsync(HubClient client, HubCache cache, HubModelId id, RepoInfo info,
        IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        var available = new HashSet<string>(info.Files, StringComparer.Ordinal);
        string snapshot = cache.SnapshotFolder(id, info.Commit);

        if (!available.Contains(HfModelFolder.ConfigFileName))
            throw new HubException(HubErrorKind.NotFound, id.RepoId,
                $"{id} has no {HfModelFolder.ConfigFileName}, so it is not a transformers model repository (it has {Describe(info.Files)}).");

        var files = new List<string> { HfModelFolder.ConfigFileName };
        files.AddRange(TokenizerFolder.TokenizerFileNames.Where(available.Contains));
        string? index = null;
        if (available.Contains(HfModelFolder.WeightsFileName))
            files.Add(HfModelFolder.WeightsFileName);
        else if (available.Contains(HfModelFolder.WeightsIndexFileName))
            files.Add(index = HfModelFolder.WeightsIndexFileName);
        else
            throw NoSafetensors(id, info.Files);

        cache.WriteRef(id, info.Commit);
        foreach (string file in files)
            await EnsureFileAsync(client, cache, id, info.Commit, file, progress, ct).ConfigureAwait(false);

        if (index is not null)
        {
            string indexPath = Path.Combine(snapshot, index);
            IEnumerable<string> shards;
            try { shards = HfModelFolder.ReadWeightMap(indexPath).Values.Distinct().Order(StringComparer.Ordinal).ToList(); }
            catch (InvalidDataException e) { throw new HubException(HubErrorKind.DownloadFailed, id.RepoId, $"{id}: {e.Message}", e); }
            foreach (string shard in shards)
            {
                if (!available.Contains(shard))
                    throw new HubException(HubErrorKind.NotFound, id.RepoId, $"{index} of {id} lists the shard {shard}, which the repository does not have.");
                await EnsureFileAsync(client, cache, id, info.Commit, shard, progress, ct).ConfigureAwait(false);
            }
        }
        return snapshot;
    }

    /// <summary>
    /// Makes snapshots/{commit}/{file} exist: nothing to do if it is already there; else the blob is reused if another
    /// snapshot (or another tool) fetched the same content, or downloaded under the blob's lock.
    /// </summary>
    private static async Task EnsureFileAsync(HubClient client, HubCache cache, HubModelId id, string commit, string file,
        IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string pointer = Path.Combine(cache.SnapshotFolder(id, commit), file);
        if (HubCache.IsUsableFile(pointer)) return;

        var meta = await client.GetFileMetadataAsync(id, commit, file, ct).ConfigureAwait(false);
        string blob = cache.BlobPath(id, meta.Etag);
        bool newBlob = false;
        // A blob recorded with its sha256 (its ETag is not a hash) is checked before reuse; a changed one is fetched again.
        if (!File.Exists(blob) || !HubCache.MatchesSha256Record(blob))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(blob)!);
            using var blobLock = await cache.LockBlobAsync(id, meta.Etag, client.LockTimeout, ct).ConfigureAwait(false);
            if (!File.Exists(blob) || !HubCache.MatchesSha256Record(blob)) // another process may have finished it while we waited
            {
                await client.DownloadBlobAsync(id, file, meta, blob, progress, ct).ConfigureAwait(false);
                newBlob = true;
            }
        }
        HubCache.LinkIntoSnapshot(blob, pointer, newBlob);
    }

    /// <summary>Resolves from the cache alone, or explains what is missing and how to get it.</summary>
    private static string FromCache(HubCache cache, HubModelId id, string offlineReason, Exception? inner = null)
    {
        string repoFolder = cache.RepoFolder(id);
        string? commit = cache.CachedCommit(id);
        string? missing = commit is null
            ? $"no {Path.Combine(repoFolder, "refs", id.Revision)}"
            : HubCache.MissingFromSnapshot(cache.SnapshotFolder(id, commit));
        if (missing is null)
            return cache.SnapshotFolder(id, commit!);

        bool offlineSet = inner is null;
        throw new HubException(HubErrorKind.Offline, id.RepoId,
            $"{offlineReason}, and {id} is not in the Hugging Face cache {cache.Root} ({missing}). " +
            (offlineSet
                ? "Unset HF_HUB_OFFLINE to download it, or give a local model folder."
                : "You seem to be offline: download it on a connected machine (e.g. `huggingface-cli download " + id.RepoId +
                  "`) into this cache (HF_HOME / HF_HUB_CACHE), then set HF_HUB_OFFLINE=1; or give a local model folder."),
            inner);
    }

    private static HubException NoSafetensors(HubModelId id, IReadOnlyList<string> files)
    {
        var pickles = files.Where(f => f.EndsWith(".bin", StringComparison.Ordinal) || f.EndsWith(".pt", StringComparison.Ordinal)
            || f.EndsWith(".pth", StringComparison.Ordinal) || f.EndsWith(".ckpt", StringComparison.Ordinal)).ToList();
        return new HubException(HubErrorKind.NotFound, id.RepoId, pickles.Count > 0
            ? $"{id} has only pickle weights ({Describe(pickles)}), no {HfModelFolder.WeightsFileName}: pickle files can run code when " +
              "loaded, so they are never downloaded. Look for a revision or a copy of the model with safetensors weights."
            : $"{id} has neither {HfModelFolder.WeightsFileName} nor {HfModelFolder.WeightsIndexFileName} (it has {Describe(files)}).");
    }

    private static string Describe(IReadOnlyList<string> files) =>
        files.Count == 0 ? "no files" : string.Join(", ", files.Take(12)) + (files.Count > 12 ? $" and {files.Count - 12} more" : "");
}

using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MLNetLlmClassifier.Hub;

/// <summary>What the hub API says about one revision of a repository.</summary>
/// <param name="Commit">The full commit hash the revision points to.</param>
/// <param name="Files">Every file of the repository at that commit (<c>siblings[].rfilename</c>).</param>
internal sealed record RepoInfo(string Commit, IReadOnlyList<string> Files);

/// <summary>What a HEAD on a file's resolve URL says (huggingface_hub's HfFileMetadata).</summary>
/// <param name="Commit">X-Repo-Commit.</param>
/// <param name="Etag">X-Linked-Etag, else ETag, without quotes: sha256 of an LFS file, git blob sha1 of any other.</param>
/// <param name="Size">X-Linked-Size, else Content-Length: the real size of the file, not of an LFS pointer.</param>
/// <param name="Location">Where to GET the bytes: the resolve URL, or the CDN it redirects to.</param>
internal sealed record HubFileMetadata(string Commit, string Etag, long Size, Uri Location);

/// <summary>The hub could not be reached at all (connection refused, DNS, timeout): the caller decides what that means.</summary>
internal sealed class HubUnreachableException(Uri url, Exception inner)
    : Exception($"Cannot reach {url.GetLeftPart(UriPartial.Authority)}: {inner.Message}", inner);

/// <summary>
/// The HTTP side of hub downloads, following huggingface_hub's file_download.py: the revision API for the commit and
/// file list, a HEAD on <c>{endpoint}/{repo}/resolve/{commit}/{file}</c> for metadata (relative redirects followed,
/// absolute ones, to the CDN, read from the Location header), and a GET of the bytes into <c>blobs/{etag}.incomplete</c>,
/// resumed with <c>Range</c> when the connection drops. The token goes only to the endpoint's own host.
/// </summary>
internal sealed partial class HubClient : IDisposable
{
    private const int MaxRedirects = 10;
    private const long MaxApiResponseBytes = 32L * 1024 * 1024;
    private const int ProgressStepBytes = 1 << 20;

    private readonly HubSettings _settings;
    private readonly HttpClient _http;

    public HubClient(HubSettings settings)
    {
        _settings = settings;
        // Redirects are followed by hand (SendAsync) so that the token never leaves the hub's host, and responses are
        // never decompressed: sizes and hashes are those of the bytes on the wire.
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = settings.Timeout,
            UseCookies = false,
        };
        _http = new HttpClient(handler) { Timeout = System.Threading.Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("MLNetLlmClassifier/" + (typeof(HubClient).Assembly.GetName().Version?.ToString(3) ?? "0"));
    }

    private string Endpoint => _settings.Endpoint.AbsoluteUri.TrimEnd('/');

    /// <summary>How long to wait for another process's download lock.</summary>
    public TimeSpan LockTimeout => _settings.LockTimeout;

    /// <summary><c>GET {endpoint}/api/models/{repo}/revision/{revision}</c>: the commit hash and the file list.</summary>
    public async Task<RepoInfo> GetRepoInfoAsync(HubModelId id, CancellationToken ct)
    {
        var url = new Uri($"{Endpoint}/api/models/{id.RepoId}/revision/{Uri.EscapeDataString(id.Revision)}");
        using var response = await SendAsync(HttpMethod.Get, url, followAbsoluteRedirects: false, rangeFrom: 0, id.RepoId, ct).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw ErrorFor(response, id, file: null);

        byte[] body;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            timeout.CancelAfter(_settings.Timeout);
            try { body = await ReadCappedAsync(response, MaxApiResponseBytes, timeout.Token).ConfigureAwait(false); }
            catch (Exception e) when (IsNetworkFailure(e, ct)) { throw new HubUnreachableException(url, e); }
        }
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            string? sha = root.TryGetProperty("sha", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
            if (sha is null || !HubModelId.CommitHash().IsMatch(sha))
                throw new JsonException($"'sha' is {(sha is null ? "missing" : $"'{sha}'")}, not a 40-digit commit hash");
            var files = new List<string>();
            if (root.TryGetProperty("siblings", out var siblings) && siblings.ValueKind == JsonValueKind.Array)
                foreach (var sibling in siblings.EnumerateArray())
                    if (sibling.ValueKind == JsonValueKind.Object && sibling.TryGetProperty("rfilename", out var name) && name.ValueKind == JsonValueKind.String)
                        files.Add(name.GetString()!);
            return new RepoInfo(sha, files);
        }
        catch (JsonException e)
        {
            throw new HubException(HubErrorKind.DownloadFailed, id.RepoId,
                $"{url} did not answer with the hub's revision info ({e.Message}). Is {Endpoint} (HF_ENDPOINT) a Hugging Face hub?", e);
        }
    }

    /// <summary>HEAD on a file's resolve URL (huggingface_hub's get_hf_file_metadata).</summary>
    public async Task<HubFileMetadata> GetFileMetadataAsync(HubModelId id, string commit, string file, CancellationToken ct)
    {
        string escapedFile = string.Join('/', file.Split('/').Select(Uri.EscapeDataString));
        var url = new Uri($"{Endpoint}/{id.RepoId}/resolve/{commit}/{escapedFile}");
        using var response = await SendAsync(HttpMethod.Head, url, followAbsoluteRedirects: false, rangeFrom: 0, id.RepoId, ct).ConfigureAwait(false);

        Uri location;
        if (IsRedirect(response.StatusCode) && response.Headers.Location is { } target)
            location = new Uri(response.RequestMessage!.RequestUri!, target); // an LFS file on the CDN
        else if (response.IsSuccessStatusCode)
            location = response.RequestMessage!.RequestUri!;
        else
            throw ErrorFor(response, id, file);

        string? repoCommit = Header(response, "X-Repo-Commit");
        string? linkedEtag = NormalizeEtag(Header(response, "X-Linked-Etag"));
        string? etag = linkedEtag ?? NormalizeEtag(Header(response, "ETag"));
        string? sizeText = Header(response, "X-Linked-Size") ?? response.Content.Headers.ContentLength?.ToString(System.Globalization.CultureInfo.InvariantCulture);

        bool hasSize = long.TryParse(sizeText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long size);
        string? problem =
            repoCommit is null ? "no X-Repo-Commit header (is this a Hugging Face hub?)"
            : etag is null ? "no ETag, so the file cannot be named in the cache or checked"
            : !SafeEtag().IsMatch(etag) || etag.Trim('.').Length == 0 ? $"an ETag '{etag}' that is not a plain hash"
            // The hub names an LFS file (X-Linked-Etag) by its sha256, always: anything else cannot be checked as the hub means it.
            : linkedEtag is not null && !IsSha256(linkedEtag) ? $"an X-Linked-Etag '{linkedEtag}' that is not a sha256 (the hub's LFS files are named by theirs)"
            : !hasSize ? "no X-Linked-Size or Content-Length, so the download cannot be checked"
            : null;
        if (problem is not null)
            throw new HubException(HubErrorKind.DownloadFailed, id.RepoId, $"HEAD {url} answered with {problem}.");
        if (repoCommit != commit)
            throw new HubException(HubErrorKind.DownloadFailed, id.RepoId,
                $"HEAD {url} answered for commit {repoCommit}, not the requested {commit}.");
        return new HubFileMetadata(commit, etag!, size, location);
    }

    /// <summary>
    /// Downloads one file into <paramref name="blobPath"/>: the bytes go to <c>{blobPath}.incomplete</c> (resumed from its
    /// length with a Range request, also after a dropped connection, up to MaxRetries times), then size and hash are checked
    /// against the hub's metadata and the file is renamed into place, so a blob is either complete and verified or absent.
    /// </summary>
    public async Task DownloadBlobAsync(HubModelId id, string file, HubFileMetadata meta, string blobPath,
        IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        string incomplete = blobPath + ".incomplete";
        try
        {
            Exception? lastFailure = null;
            for (int attempt = 0; ; attempt++)
            {
                if (attempt > 0)
                {
                    if (attempt > _settings.MaxRetries)
                        throw new HubException(HubErrorKind.DownloadFailed, id.RepoId,
                            $"Downloading {file} of {id} from {meta.Location.GetLeftPart(UriPartial.Path)} failed {attempt} times " +
                            $"(last: {lastFailure!.Message}). The {FileLength(incomplete)} bytes fetched are kept in {incomplete}; " +
                            "running again resumes from there.", lastFailure);
                    double seconds = Math.Min(8, _settings.RetryDelay.TotalSeconds * Math.Pow(2, attempt - 1));
                    await Task.Delay(TimeSpan.FromSeconds(seconds), ct).ConfigureAwait(false);
                }
                try
                {
                    long have = await FetchAsync(id, file, meta, incomplete, progress, ct).ConfigureAwait(false);
                    if (have == meta.Size) break;
                    lastFailure = new IOException($"the server ended the response after {have} of {meta.Size} bytes");
                }
                catch (TransientDownloadException e)
                {
                    lastFailure = e.InnerException ?? e;
                }
            }

            if (Verify(id, file, meta, incomplete) is { } sha256)
                HubCache.WriteSha256Record(blobPath, sha256);
            File.Move(incomplete, blobPath, overwrite: true);
        }
        catch (IOException e) when (HubCache.IsDiskFull(e))
        {
            throw new HubException(HubErrorKind.DiskFull, id.RepoId,
                $"The disk is full: no space left for {file} of {id} ({meta.Size:N0} bytes) in the Hugging Face cache " +
                $"{_settings.CacheDirectory}. Free some space (or point HF_HUB_CACHE at a larger disk) and run again: " +
                $"the {FileLength(incomplete):N0} bytes already in {incomplete} are resumed.", e);
        }
    }

    /// <summary>One GET of the missing bytes; returns how many bytes the incomplete file holds afterwards.</summary>
    private async Task<long> FetchAsync(HubModelId id, string file, HubFileMetadata meta, string incomplete,
        IProgress<DownloadProgress>? progress, CancellationToken ct)
    {
        // The stream's length, not FileInfo's: the incomplete file may be a link (FileInfo measures the link itself).
        using var output = new FileStream(incomplete, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read, bufferSize: 1 << 16);
        long have = output.Length;
        if (have > meta.Size)
        {
            // Longer than the file can be: not a prefix of it. Start over.
            output.SetLength(0);
            have = 0;
        }
        if (have == meta.Size) return have;

        HttpResponseMessage response;
        try
        {
            response = await SendAsync(HttpMethod.Get, meta.Location, followAbsoluteRedirects: true, rangeFrom: have, id.RepoId, ct).ConfigureAwait(false);
        }
        catch (HubUnreachableException e)
        {
            throw new TransientDownloadException(e);
        }

        using (response)
        {
            switch (response.StatusCode)
            {
                case HttpStatusCode.PartialContent when have > 0 && response.Content.Headers.ContentRange?.From == have:
                    break;
                case HttpStatusCode.OK:
                    // No resume (none asked, or the server ignored Range): the body is the whole file.
                    if (have > 0) output.SetLength(0);
                    have = 0;
                    break;
                case HttpStatusCode.PartialContent:
                case HttpStatusCode.RequestedRangeNotSatisfiable:
                    output.SetLength(0); // the server disagrees about what we have: start over
                    throw new TransientDownloadException(new IOException($"the server answered the range request with {(int)response.StatusCode}"));
                case HttpStatusCode.TooManyRequests:
                case >= HttpStatusCode.InternalServerError:
                    throw new TransientDownloadException(new IOException($"the server answered {(int)response.StatusCode} {response.ReasonPhrase}"));
                default:
                    throw ErrorFor(response, id, file);
            }

            output.Position = have;
            progress?.Report(new DownloadProgress(file, have, meta.Size));

            Stream body;
            try { body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false); }
            catch (Exception e) when (IsNetworkFailure(e, ct)) { throw new TransientDownloadException(e); }

            using var stall = CancellationTokenSource.CreateLinkedTokenSource(ct);
            byte[] buffer = new byte[1 << 20];
            long reported = have;
            while (true)
            {
                int n;
                try
                {
                    stall.CancelAfter(_settings.Timeout); // restarts the no-progress timer before each read
                    n = await body.ReadAsync(buffer, stall.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (IsNetworkFailure(e, ct))
                {
                    output.Flush(flushToDisk: true); // keep what arrived: the retry resumes after it
                    throw new TransientDownloadException(e);
                }
                if (n == 0) break;
                if (have + n > meta.Size)
                {
                    output.Dispose();
                    File.Delete(incomplete);
                    throw new HubException(HubErrorKind.IntegrityCheckFailed, id.RepoId,
                        $"{meta.Location.GetLeftPart(UriPartial.Path)} sent more than the {meta.Size:N0} bytes the hub reports for {file}; the download was deleted.");
                }
                await output.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
                have += n;
                if (have - reported >= ProgressStepBytes || have == meta.Size)
                {
                    progress?.Report(new DownloadProgress(file, have, meta.Size));
                    reported = have;
                }
            }
            output.Flush(flushToDisk: true);
            return have;
        }
    }

    /// <summary>
    /// Checks a finished download against the hub. Always: the size (X-Linked-Size for LFS files, else Content-Length of
    /// the HEAD). Then the content against the ETag when it is a hash: sha256 for LFS files (X-Linked-Etag), git's blob sha1
    /// for the others. When the ETag is not a hash (a mirror or proxy that names files otherwise), nothing the hub said can
    /// check the bytes beyond their size: their sha256 is computed and returned, for the caller to record next to the
    /// cache (<see cref="HubCache.WriteSha256Record"/>) so that the blob is checked against it whenever it is reused.
    /// A mismatch deletes the download.
    /// </summary>
    /// <returns>The content's sha256 when the ETag is not a hash (to record); null when the ETag itself was checked.</returns>
    private static string? Verify(HubModelId id, string file, HubFileMetadata meta, string path)
    {
        long length = FileLength(path);
        string? actual = null;
        string kind = "";
        if (length == meta.Size)
        {
            if (IsSha256(meta.Etag))
            {
                kind = "sha256";
                actual = HubCache.Sha256Of(path);
            }
            else if (meta.Etag.Length == 40 && IsLowerHex(meta.Etag))
            {
                kind = "git blob sha1";
                actual = GitBlobSha1(path, length);
            }
            else return HubCache.Sha256Of(path);
            if (actual == meta.Etag) return null;
        }
        HubCache.TryDelete(path);
        string found = actual is null ? $"{length:N0} bytes, but the hub reports {meta.Size:N0}" : $"{kind} {actual}, but the hub reports {meta.Etag}";
        throw new HubException(HubErrorKind.IntegrityCheckFailed, id.RepoId,
            $"The download of {file} of {id} is corrupt: {found}. The partial file {path} was deleted; run again to download it afresh.");
    }

    private static bool IsSha256(string etag) => etag.Length == 64 && IsLowerHex(etag);

    // A git object id: sha1 of "blob <size>\0" followed by the content.
    private static string GitBlobSha1(string path, long length)
    {
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        sha1.AppendData(Encoding.ASCII.GetBytes($"blob {length}\0"));
        using var stream = File.OpenRead(path);
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = stream.Read(buffer)) > 0) sha1.AppendData(buffer, 0, n);
        return Convert.ToHexString(sha1.GetHashAndReset()).ToLowerInvariant();
    }

    /// <summary>
    /// Sends a request, following redirects by hand. Relative redirects (a renamed repository) are always followed;
    /// absolute ones (the CDN) only when <paramref name="followAbsoluteRedirects"/>, else the 3xx is returned with its
    /// Location. The token is sent only to the endpoint's scheme, host and port.
    /// </summary>
    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, Uri url, bool followAbsoluteRedirects, long rangeFrom, string repoId, CancellationToken ct)
    {
        for (int hop = 0; ; hop++)
        {
            using var request = new HttpRequestMessage(method, url);
            if (_settings.Token is not null && SameOrigin(url, _settings.Endpoint))
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _settings.Token);
            request.Headers.AcceptEncoding.Add(new StringWithQualityHeaderValue("identity"));
            if (rangeFrom > 0) request.Headers.Range = new RangeHeaderValue(rangeFrom, null);

            HttpResponseMessage response;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                timeout.CancelAfter(_settings.Timeout);
                try
                {
                    response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (IsNetworkFailure(e, ct))
                {
                    throw new HubUnreachableException(url, e);
                }
            }

            if (!IsRedirect(response.StatusCode) || response.Headers.Location is not { } location)
                return response;
            if (location.IsAbsoluteUri && !followAbsoluteRedirects)
                return response;
            if (hop == MaxRedirects)
            {
                response.Dispose();
                // The hub answered, so this is not "offline": a loop (a misconfigured mirror or proxy) is an error of its own.
                throw new HubException(HubErrorKind.DownloadFailed, repoId,
                    $"{url.GetLeftPart(UriPartial.Path)} redirected more than {MaxRedirects} times (a redirect loop on the hub, mirror or proxy); nothing was downloaded.");
            }
            response.Dispose();
            url = new Uri(url, location);
        }
    }

    /// <summary>Maps a hub error response to a clear exception (huggingface_hub's hf_raise_for_status).</summary>
    private HubException ErrorFor(HttpResponseMessage response, HubModelId id, string? file)
    {
        int status = (int)response.StatusCode;
        string? code = Header(response, "X-Error-Code");
        string? hubMessage = Header(response, "X-Error-Message");
        string says = hubMessage is null ? "" : $" The hub says: {hubMessage}";
        string page = $"{Endpoint}/{id.RepoId}";

        if (code == "RepoNotFound" || (file is null && status == 404 && code is null))
            return new HubException(HubErrorKind.NotFound, id.RepoId,
                $"Repository {id.RepoId} was not found on {Endpoint} (HTTP {status}), and there is no local folder of that name. " +
                $"Check the id (e.g. Qwen/Qwen3-0.6B, google-bert/bert-base-cased); if the repository is private, set HF_TOKEN to a token with access.{says}");
        if (code == "RevisionNotFound")
            return new HubException(HubErrorKind.NotFound, id.RepoId, $"Repository {id.RepoId} has no revision '{id.Revision}' (branch, tag or commit).{says}");
        if (code == "EntryNotFound" || (status == 404 && file is not null))
            return new HubException(HubErrorKind.NotFound, id.RepoId, $"File {file} is missing from {id} on {Endpoint} (HTTP {status}).{says}");
        if (status is 401 or 403 || code == "GatedRepo")
            return new HubException(HubErrorKind.Unauthorized, id.RepoId, _settings.Token is null
                ? $"{id.RepoId} is a gated or private model (HTTP {status}): accept its license on {page} and set HF_TOKEN " +
                  $"to an access token of that account (create one at {Endpoint}/settings/tokens).{says}"
                : $"{id.RepoId} refused the token (HTTP {status}): it is a gated or private model; accept its license on {page} " +
                  $"with the account that owns the token in HF_TOKEN, and check that the token is valid.{says}");
        return new HubException(HubErrorKind.DownloadFailed, id.RepoId,
            $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered HTTP {status} {response.ReasonPhrase}.{says}");
    }

    private static async Task<byte[]> ReadCappedAsync(HttpResponseMessage response, long cap, CancellationToken ct)
    {
        using var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var memory = new MemoryStream();
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = await body.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
        {
            if (memory.Length + n > cap)
                throw new InvalidDataException($"{response.RequestMessage?.RequestUri} answered with more than {cap} bytes.");
            memory.Write(buffer, 0, n);
        }
        return memory.ToArray();
    }

    /// <summary>A connection-level failure (refused, reset, DNS, TLS, timeout), as opposed to an HTTP error status or a cancel by the caller.</summary>
    private static bool IsNetworkFailure(Exception e, CancellationToken callerToken) => e switch
    {
        OperationCanceledException => !callerToken.IsCancellationRequested, // our own timeout fired
        HttpRequestException h => h.StatusCode is null,
        IOException io => !HubCache.IsDiskFull(io),
        _ => false,
    };

    private static bool IsRedirect(HttpStatusCode status) => (int)status is 301 or 302 or 303 or 307 or 308;

    private static bool SameOrigin(Uri a, Uri b) =>
        string.Equals(a.Scheme, b.Scheme, StringComparison.OrdinalIgnoreCase)
        && string.Equals(a.IdnHost, b.IdnHost, StringComparison.OrdinalIgnoreCase)
        && a.Port == b.Port;

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? values.FirstOrDefault()
            : null;

    // The HTTP spec allows W/"etag" and "etag"; the hub sends the second. The cache uses the bare value as a file name.
    private static string? NormalizeEtag(string? etag)
    {
        if (etag is null) return null;
        if (etag.StartsWith("W/", StringComparison.Ordinal)) etag = etag[2..];
        etag = etag.Trim('"');
        return etag.Length == 0 ? null : etag;
    }

    private static bool IsLowerHex(string s) => s.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    private static long FileLength(string path) => File.Exists(path) ? new FileInfo(path).Length : 0;

    [GeneratedRegex("^[A-Za-z0-9_.-]+$")]
    private static partial Regex SafeEtag();

    public void Dispose() => _http.Dispose();

    /// <summary>A dropped connection, stall or server hiccup during a download: retried with Range.</summary>
    private sealed class TransientDownloadException(Exception inner) : Exception(inner.Message, inner);
}

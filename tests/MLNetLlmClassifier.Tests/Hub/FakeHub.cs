using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace MLNetLlmClassifier.Tests.Hub;

/// <summary>How a repository is protected on the fake hub.</summary>
internal enum Access
{
    Public,
    /// <summary>Anyone sees the revision info; downloads need the token (401 GatedRepo), as on huggingface.co.</summary>
    Gated,
    /// <summary>Without the token the repository does not exist (401 RepoNotFound), as on huggingface.co.</summary>
    Private,
}

/// <summary>One repository of the fake hub: commits of files, <c>main</c> pointing at the latest.</summary>
internal sealed class FakeRepo(string repoId, Access access)
{
    public string RepoId { get; } = repoId;
    public Access Access { get; } = access;
    public Dictionary<string, Dictionary<string, byte[]>> Commits { get; } = new(StringComparer.Ordinal);
    public string Main { get; private set; } = "";

    /// <summary>Adds a commit holding exactly <paramref name="files"/> and points main at it; returns its hash.</summary>
    public string Commit(Dictionary<string, byte[]> files)
    {
        string sha = Convert.ToHexString(RandomNumberGenerator.GetBytes(20)).ToLowerInvariant();
        Commits[sha] = files;
        Main = sha;
        return sha;
    }

    public Dictionary<string, byte[]> Files => Commits[Main];
}

/// <summary>
/// Imitates the Hugging Face hub's download endpoints on two loopback servers: the hub (revision API, resolve URLs)
/// and a CDN on another port, to which resolve URLs of LFS files (*.safetensors) redirect, as huggingface.co does.
/// Headers are those the real hub sends: X-Repo-Commit, ETag (git blob sha1) or X-Linked-Etag (sha256) with
/// X-Linked-Size, X-Error-Code on errors, 401 for gated repositories without the right token.
/// </summary>
internal sealed class FakeHub : IDisposable
{
    public const string Token = "hf_loopback_test_token";

    private readonly ConcurrentDictionary<string, FakeRepo> _repos = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte[]> _lfsBlobs = new(StringComparer.Ordinal);

    public FakeHub()
    {
        Hub = new LoopbackHttpServer(ServeHub);
        Cdn = new LoopbackHttpServer(ServeCdn);
    }

    public LoopbackHttpServer Hub { get; }
    public LoopbackHttpServer Cdn { get; }

    /// <summary>The CDN answers the first GET of a blob (by sha256) with only this many bytes, then drops the connection.</summary>
    public ConcurrentDictionary<string, int> DropFirstGetAfter { get; } = new(StringComparer.Ordinal);

    /// <summary>The CDN serves these bytes instead of the blob with this sha256 (same length: only the hash can tell).</summary>
    public ConcurrentDictionary<string, byte[]> CorruptBlobs { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Files (by name) answered with this ETag instead of their hash, as a mirror or proxy that names files otherwise might
    /// (for an LFS file it replaces X-Linked-Etag).
    /// </summary>
    public ConcurrentDictionary<string, string> OpaqueEtags { get; } = new(StringComparer.Ordinal);

    /// <summary>Old repository ids answered with a relative 307 to the new id's URL, as the hub does for renamed repositories.</summary>
    public ConcurrentDictionary<string, string> Renamed { get; } = new(StringComparer.Ordinal);

    public FakeRepo AddRepo(string repoId, Dictionary<string, byte[]> files, Access access = Access.Public)
    {
        var repo = new FakeRepo(repoId, access);
        repo.Commit(files);
        _repos[repoId] = repo;
        return repo;
    }

    public static bool IsLfs(string file) => file.EndsWith(".safetensors", StringComparison.Ordinal);

    public static string Sha256(byte[] content) => Convert.ToHexString(SHA256.HashData(content)).ToLowerInvariant();

    public static string GitBlobSha1(byte[] content) =>
        Convert.ToHexString(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {content.Length}\0"), .. content])).ToLowerInvariant();

    /// <summary>The blob name the cache must use for this content: sha256 for LFS files, git blob sha1 otherwise.</summary>
    public static string Etag(string file, byte[] content) => IsLfs(file) ? Sha256(content) : GitBlobSha1(content);

    private LoopbackResponse ServeHub(LoopbackRequest request)
    {
        string path = Uri.UnescapeDataString(request.Path);
        foreach (var (from, to) in Renamed)
            foreach (string prefix in new[] { $"/api/models/{from}/", $"/{from}/" })
                if (path.StartsWith(prefix, StringComparison.Ordinal))
                {
                    var moved = new LoopbackResponse { Status = 307 };
                    moved.Headers["Location"] = prefix.Replace(from, to, StringComparison.Ordinal) + request.Path[prefix.Length..];
                    return moved;
                }
        string[] parts = path.TrimStart('/').Split('/');

        // GET /api/models/{owner}/{name}/revision/{revision}
        if (parts.Length >= 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "revision")
        {
            if (!TryRepo(parts[2] + "/" + parts[3], request, download: false, out var repo, out var error)) return error;
            string revision = string.Join('/', parts[5..]);
            if (!TryCommit(repo, revision, out var commit)) return Error(404, "RevisionNotFound", $"Invalid rev id: {revision}");
            var info = new
            {
                id = repo.RepoId,
                sha = commit,
                siblings = repo.Commits[commit].Keys.Order(StringComparer.Ordinal).Select(f => new { rfilename = f }),
            };
            var ok = new LoopbackResponse { Body = JsonSerializer.SerializeToUtf8Bytes(info) };
            ok.Headers["Content-Type"] = "application/json";
            return ok;
        }

        // HEAD or GET /{owner}/{name}/resolve/{revision}/{file}
        if (parts.Length >= 5 && parts[2] == "resolve")
        {
            if (!TryRepo(parts[0] + "/" + parts[1], request, download: true, out var repo, out var error)) return error;
            if (!TryCommit(repo, parts[3], out var commit)) return Error(404, "RevisionNotFound", $"Invalid rev id: {parts[3]}");
            string file = string.Join('/', parts[4..]);
            if (!repo.Commits[commit].TryGetValue(file, out var content))
            {
                var missing = Error(404, "EntryNotFound", $"{file} does not exist on \"{parts[3]}\"");
                missing.Headers["X-Repo-Commit"] = commit;
                return missing;
            }
            if (IsLfs(file))
            {
                string sha = Sha256(content);
                _lfsBlobs[sha] = content;
                var redirect = new LoopbackResponse { Status = 302, Body = Encoding.ASCII.GetBytes("Found. Redirecting") };
                redirect.Headers["Location"] = new Uri(Cdn.BaseUri, $"/repos/{repo.RepoId.Replace('/', '-')}/{sha}?signature=x").ToString();
                redirect.Headers["X-Repo-Commit"] = commit;
                redirect.Headers["X-Linked-Etag"] = $"\"{OpaqueEtags.GetValueOrDefault(file, sha)}\"";
                redirect.Headers["X-Linked-Size"] = content.Length.ToString();
                redirect.Headers["ETag"] = $"\"{GitBlobSha1(Encoding.ASCII.GetBytes("version https://git-lfs.github.com/spec/v1\noid sha256:" + sha))}\"";
                return redirect;
            }
            var served = Ranged(request, content);
            served.Headers["X-Repo-Commit"] = commit;
            served.Headers["ETag"] = $"\"{OpaqueEtags.GetValueOrDefault(file, GitBlobSha1(content))}\"";
            return served;
        }
        return Error(404, null, "no such route");
    }

    private LoopbackResponse ServeCdn(LoopbackRequest request)
    {
        // GET /repos/{repo}/{sha256}?signature=...
        string sha = request.Path.Split('?')[0].Split('/')[^1];
        if (!_lfsBlobs.TryGetValue(sha, out var content)) return Error(404, null, "no such blob");
        if (CorruptBlobs.TryGetValue(sha, out var corrupt)) content = corrupt;
        var response = Ranged(request, content);
        if (request.Method == "GET" && DropFirstGetAfter.TryRemove(sha, out int after))
            return new LoopbackResponse { Status = response.Status, Body = response.Body, DropAfterBytes = after }.With(response.Headers);
        return response;
    }

    /// <summary>The whole content, or its tail for <c>Range: bytes=N-</c> (206 with Content-Range), as CDNs do.</summary>
    private static LoopbackResponse Ranged(LoopbackRequest request, byte[] content)
    {
        string? range = request.Header("Range");
        if (range is null || !range.StartsWith("bytes=", StringComparison.Ordinal) || !range.EndsWith('-'))
            return new LoopbackResponse { Body = content };
        int from = int.Parse(range["bytes=".Length..^1]);
        if (from >= content.Length) return new LoopbackResponse { Status = 416 };
        var partial = new LoopbackResponse { Status = 206, Body = content[from..] };
        partial.Headers["Content-Range"] = $"bytes {from}-{content.Length - 1}/{content.Length}";
        return partial;
    }

    private bool TryRepo(string repoId, LoopbackRequest request, bool download, out FakeRepo repo, out LoopbackResponse error)
    {
        error = null!;
        bool authorized = request.Header("Authorization") == $"Bearer {Token}";
        if (!_repos.TryGetValue(repoId, out repo!))
        {
            error = Error(404, "RepoNotFound", "Repository not found");
            return false;
        }
        if (repo.Access == Access.Private && !authorized)
        {
            // The hub does not tell a private repository from a missing one.
            error = Error(401, "RepoNotFound", "Repository not found");
            return false;
        }
        if (repo.Access == Access.Gated && download && !authorized)
        {
            error = Error(401, "GatedRepo", $"Access to model {repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.");
            return false;
        }
        return true;
    }

    private static bool TryCommit(FakeRepo repo, string revision, out string commit)
    {
        commit = revision == "main" ? repo.Main : revision;
        return repo.Commits.ContainsKey(commit);
    }

    private static LoopbackResponse Error(int status, string? code, string message)
    {
        var response = new LoopbackResponse { Status = status, Body = Encoding.UTF8.GetBytes($"{{\"error\":\"{message}\"}}") };
        if (code is not null) response.Headers["X-Error-Code"] = code;
        response.Headers["X-Error-Message"] = message;
        return response;
    }

    public void Dispose()
    {
        Hub.Dispose();
        Cdn.Dispose();
    }
}

internal static class LoopbackResponseExtensions
{
    public static LoopbackResponse With(this LoopbackResponse response, Dictionary<string, string> headers)
    {
        foreach (var (k, v) in headers) response.Headers[k] = v;
        return response;
    }
}

using System.Net;
using System.Net.Sockets;
using System.Text;
using MLNetLlmClassifier.Bert;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Hub;
using MLNetLlmClassifier.Tests.Checkpoints;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Tests.Hub;

/// <summary>
/// The real download code against <see cref="FakeHub"/>, a loopback imitation of the hub and its CDN.
/// Every test has its own cache folder and an environment of its own (never the process's HF_* variables).
/// </summary>
[TestClass]
public class HubModelResolverTests
{
    private const string RepoId = "acme/tiny-bert";

    private static Dictionary<string, byte[]> BertRepo(int seed = 1, int weightBytes = 6000) => new()
    {
        [".gitattributes"] = Encoding.UTF8.GetBytes("*.safetensors filter=lfs diff=lfs merge=lfs -text\n"),
        ["README.md"] = Encoding.UTF8.GetBytes("# tiny bert\n"),
        ["config.json"] = Encoding.UTF8.GetBytes($"{{\"model_type\": \"bert\", \"seed\": {seed}}}\n"),
        ["tokenizer_config.json"] = Encoding.UTF8.GetBytes("{\"do_lower_case\": true}\n"),
        ["vocab.txt"] = Encoding.UTF8.GetBytes("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n"),
        ["model.safetensors"] = RandomBytes(seed, weightBytes),
        ["pytorch_model.bin"] = RandomBytes(seed + 100, 3000),
    };

    private static byte[] RandomBytes(int seed, int count)
    {
        var bytes = new byte[count];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Options pointing at the fake hub, with an isolated environment (HF_HOME in the temp folder).</summary>
    private static HubOptions Options(FakeHub hub, TempFolder tmp, string? token = null, Dictionary<string, string>? env = null)
    {
        env ??= [];
        env.TryAdd("HF_HOME", tmp.File("hf-home"));
        return new HubOptions
        {
            Endpoint = hub.Hub.BaseUri.ToString(),
            CacheDirectory = tmp.File("cache"),
            Token = token,
            EnvironmentVariables = name => env.GetValueOrDefault(name),
            RetryDelay = TimeSpan.Zero,
            Timeout = TimeSpan.FromSeconds(10),
        };
    }

    private static int Count(LoopbackHttpServer server, string method, string pathPart) =>
        server.Requests.Count(r => r.Method == method && r.Path.Contains(pathPart, StringComparison.Ordinal));

    [TestMethod]
    public void DownloadsIntoTheHuggingFaceCacheLayout()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());

        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        string repoFolder = tmp.File("cache", "models--acme--tiny-bert");
        Assert.AreEqual(Path.Combine(repoFolder, "snapshots", repo.Main), folder);
        Assert.AreEqual(repo.Main, File.ReadAllText(Path.Combine(repoFolder, "refs", "main")), "refs/main holds the commit, no newline");
        CollectionAssert.AreEquivalent(
            new[] { "config.json", "tokenizer_config.json", "vocab.txt", "model.safetensors" },
            Directory.GetFiles(folder).Select(Path.GetFileName).ToList(),
            "only what a classifier needs: no pickle weights, README or .gitattributes");
        foreach (string file in Directory.GetFiles(folder).Select(f => Path.GetFileName(f)))
        {
            byte[] content = repo.Files[file];
            string etag = FakeHub.Etag(file!, content);
            string blob = Path.Combine(repoFolder, "blobs", etag);
            CollectionAssert.AreEqual(content, File.ReadAllBytes(blob), $"blobs/{etag} ({file})");
            if (!OperatingSystem.IsWindows())
                Assert.AreEqual($"../../blobs/{etag}", new FileInfo(Path.Combine(folder, file!)).LinkTarget, $"{file} is a relative symlink, as huggingface_hub makes it");
            CollectionAssert.AreEqual(content, File.ReadAllBytes(Path.Combine(folder, file!)));
        }
        Assert.AreEqual(0, Directory.GetFiles(Path.Combine(repoFolder, "blobs"), "*.incomplete").Length);
        Assert.IsTrue(File.Exists(tmp.File("cache", ".locks", "models--acme--tiny-bert", FakeHub.Sha256(repo.Files["model.safetensors"]) + ".lock")),
            "the download lock lives where huggingface_hub keeps its locks");
    }

    [TestMethod]
    public void TheSnapshotOfARealTinyCheckpointLoads()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        string bert = TestPaths.Shared("fixtures", "hf-parity", "bert-tiny-a");
        hub.AddRepo(RepoId, new Dictionary<string, byte[]>
        {
            ["config.json"] = File.ReadAllBytes(Path.Combine(bert, "config.json")),
            ["model.safetensors"] = File.ReadAllBytes(Path.Combine(bert, "model.safetensors")),
            ["vocab.txt"] = File.ReadAllBytes(TestPaths.Shared("models", "bert-uncased-vocab", "vocab.txt")),
        });

        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        Assert.AreEqual("bert", (string?)HfModelFolder.ReadConfig(folder)["model_type"]);
        using var weights = HfModelFolder.OpenWeights(folder);
        Assert.AreEqual(41, weights.Names.Count);
        Assert.IsInstanceOfType<BertWordPieceTokenizer>(TokenizerFolder.Open(folder));
    }

    [TestMethod]
    public void AnExistingFolderIsReturnedAsIsAndOtherInputIsAClearError()
    {
        using var tmp = new TempFolder();
        Assert.AreEqual(Path.GetFullPath(tmp.Path), HubModelResolver.Resolve(tmp.Path, new HubOptions { Endpoint = "http://127.0.0.1:9" }));

        File.WriteAllText(tmp.File("model.safetensors"), "x");
        StringAssert.Contains(Assert.ThrowsExactly<ArgumentException>(() => HubModelResolver.Resolve(tmp.File("model.safetensors"))).Message, "is a file");

        foreach (string bad in new[] { "bert-base-uncased", "a/b/c", "owner/", "./models/missing", "acme/x@../../etc", "acme/--x" })
        {
            var e = Assert.ThrowsExactly<ArgumentException>(() => HubModelResolver.Resolve(bad, new HubOptions { Endpoint = "http://127.0.0.1:9" }), bad);
            StringAssert.Contains(e.Message, "neither an existing folder", bad);
            StringAssert.Contains(e.Message, "Qwen/Qwen3-0.6B", bad);
        }
    }

    [TestMethod]
    public void HubIdsParseLikeHuggingfaceHub()
    {
        var id = HubModelId.Parse("Qwen/Qwen3-0.6B");
        Assert.AreEqual("Qwen/Qwen3-0.6B", id.RepoId);
        Assert.AreEqual("main", id.Revision);
        Assert.AreEqual("models--Qwen--Qwen3-0.6B", id.CacheFolderName);

        var pinned = HubModelId.Parse("google-bert/bert-base-cased@refs/pr/1");
        Assert.AreEqual("refs/pr/1", pinned.Revision);
        Assert.IsFalse(pinned.RevisionIsCommit);
        Assert.IsTrue(HubModelId.Parse("a/b@" + new string('c', 40)).RevisionIsCommit);
        Assert.AreEqual("google-bert/bert-base-cased@v1.0", HubModelId.Parse("google-bert/bert-base-cased@v1.0").ToString());

        foreach (string bad in new[] { "", "name", "a/b/c", "-a/b", "a./b", "a/b..c", "a/b@", "a/b@x/../y", "a/b@/x", "ä/b" })
            Assert.IsFalse(HubModelId.TryParse(bad, out _, out var why), bad);
    }

    [TestMethod]
    public void LfsFilesComeFromTheCdnAndTheTokenNeverLeavesTheHub()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo());

        HubModelResolver.Resolve(RepoId, Options(hub, tmp, token: FakeHub.Token));

        Assert.IsTrue(hub.Hub.Requests.All(r => r.Header("Authorization") == $"Bearer {FakeHub.Token}"), "every hub request carries the token");
        Assert.AreEqual(1, hub.Cdn.Requests.Count, "only model.safetensors is an LFS file");
        Assert.IsNull(hub.Cdn.Requests.Single().Header("Authorization"), "the token must not be forwarded to another host");
        Assert.AreEqual("identity", hub.Hub.Requests.First(r => r.Method == "HEAD").Header("Accept-Encoding"));
    }

    [TestMethod]
    public void ARenamedRepositoryIsFollowedWithItsToken()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo(), Access.Gated);
        hub.Renamed["acme/old-bert"] = RepoId;

        string folder = HubModelResolver.Resolve("acme/old-bert", Options(hub, tmp, token: FakeHub.Token));

        StringAssert.StartsWith(folder, tmp.File("cache", "models--acme--old-bert", "snapshots"), "cached under the id asked for, as huggingface_hub does");
        Assert.IsTrue(File.Exists(Path.Combine(folder, "model.safetensors")));
        Assert.IsTrue(hub.Hub.Requests.Any(r => r.Path.StartsWith("/api/models/acme/tiny-bert/", StringComparison.Ordinal)
            && r.Header("Authorization") == $"Bearer {FakeHub.Token}"), "a relative redirect stays on the hub, so the token goes along");
    }

    [TestMethod]
    public void AGatedModelNeedsTheToken()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo(), Access.Gated);

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp)));
        Assert.AreEqual(HubErrorKind.Unauthorized, e.Kind);
        StringAssert.Contains(e.Message, "gated or private model");
        StringAssert.Contains(e.Message, "accept its license");
        StringAssert.Contains(e.Message, "HF_TOKEN");
        StringAssert.Contains(e.Message, RepoId);

        var wrong = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp, token: "hf_wrong")));
        StringAssert.Contains(wrong.Message, "refused the token");

        // HF_TOKEN from the environment, as huggingface_hub reads it.
        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp, env: new() { ["HF_TOKEN"] = FakeHub.Token }));
        Assert.IsTrue(File.Exists(Path.Combine(folder, "model.safetensors")));
    }

    [TestMethod]
    public void APrivateModelLooksMissingWithoutTheToken()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo(), Access.Private);

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp)));
        Assert.AreEqual(HubErrorKind.NotFound, e.Kind);
        StringAssert.Contains(e.Message, "not found");
        StringAssert.Contains(e.Message, "if the repository is private, set HF_TOKEN");

        Assert.IsTrue(File.Exists(Path.Combine(HubModelResolver.Resolve(RepoId, Options(hub, tmp, token: FakeHub.Token)), "config.json")));
    }

    [TestMethod]
    public void TheTokenFileOfHuggingfaceCliLoginIsUsed()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo(), Access.Gated);
        Directory.CreateDirectory(tmp.File("hf-home"));
        File.WriteAllText(tmp.File("hf-home", "token"), FakeHub.Token + "\n");

        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        Assert.IsTrue(File.Exists(Path.Combine(folder, "config.json")));
    }

    [TestMethod]
    public void ADroppedConnectionIsResumedWithRange()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo(weightBytes: 8000));
        byte[] weights = repo.Files["model.safetensors"];
        string sha = FakeHub.Sha256(weights);
        hub.DropFirstGetAfter[sha] = 3000;
        var reports = new List<DownloadProgress>();
        var progress = new SynchronousProgress(reports);

        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp), progress);

        CollectionAssert.AreEqual(weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        var gets = hub.Cdn.Requests.Where(r => r.Method == "GET").ToList();
        Assert.AreEqual(2, gets.Count);
        Assert.IsNull(gets[0].Header("Range"));
        Assert.AreEqual("bytes=3000-", gets[1].Header("Range"), "the retry asks only for the missing bytes");
        Assert.AreEqual(weights.Length, hub.Cdn.BodyBytesSent, "nothing was downloaded twice");

        var weightReports = reports.Where(p => p.File == "model.safetensors").ToList();
        Assert.IsTrue(weightReports.All(p => p.TotalBytes == weights.Length));
        Assert.AreEqual(3000, weightReports.First(p => p.BytesDone > 0).BytesDone, "the resumed attempt starts from the bytes kept");
        Assert.AreEqual(weights.Length, weightReports[^1].BytesDone);
    }

    [TestMethod]
    public void AnIncompleteFileFromAnEarlierRunIsResumed()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        byte[] weights = repo.Files["model.safetensors"];
        string blobs = tmp.File("cache", "models--acme--tiny-bert", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, FakeHub.Sha256(weights) + ".incomplete"), weights[..2500]);

        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        CollectionAssert.AreEqual(weights, File.ReadAllBytes(Path.Combine(folder, "model.safetensors")));
        Assert.AreEqual("bytes=2500-", hub.Cdn.Requests.Single().Header("Range"));
    }

    [TestMethod]
    public void AConnectionThatKeepsDroppingFailsClearlyAndKeepsWhatArrived()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        string sha = FakeHub.Sha256(repo.Files["model.safetensors"]);
        hub.DropFirstGetAfter[sha] = 1000;

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp) with { MaxRetries = 0 }));

        Assert.AreEqual(HubErrorKind.DownloadFailed, e.Kind);
        StringAssert.Contains(e.Message, "model.safetensors");
        StringAssert.Contains(e.Message, "resumes");
        string incomplete = tmp.File("cache", "models--acme--tiny-bert", "blobs", sha + ".incomplete");
        Assert.AreEqual(1000, new FileInfo(incomplete).Length, "the bytes that arrived are kept for the next run");

        HubModelResolver.Resolve(RepoId, Options(hub, tmp));
        Assert.AreEqual("bytes=1000-", hub.Cdn.Requests.Last().Header("Range"));
        Assert.IsFalse(File.Exists(incomplete));
    }

    [TestMethod]
    public void AHashMismatchDeletesTheDownloadAndSaysSo()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        byte[] weights = repo.Files["model.safetensors"];
        string sha = FakeHub.Sha256(weights);
        byte[] corrupt = (byte[])weights.Clone();
        corrupt[^1] ^= 0xFF;
        hub.CorruptBlobs[sha] = corrupt;

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp)));

        Assert.AreEqual(HubErrorKind.IntegrityCheckFailed, e.Kind);
        StringAssert.Contains(e.Message, "sha256");
        StringAssert.Contains(e.Message, sha);
        StringAssert.Contains(e.Message, "deleted");
        string blobs = tmp.File("cache", "models--acme--tiny-bert", "blobs");
        Assert.IsFalse(File.Exists(Path.Combine(blobs, sha)));
        Assert.IsFalse(File.Exists(Path.Combine(blobs, sha + ".incomplete")));
        Assert.IsFalse(File.Exists(Path.Combine(tmp.File("cache", "models--acme--tiny-bert", "snapshots", repo.Main), "model.safetensors")));
    }

    [TestMethod]
    public void ABlobWhoseEtagIsNotAHashIsRecordedWithItsSha256AndCheckedOnReuse()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        byte[] vocab = repo.Files["vocab.txt"];
        hub.OpaqueEtags["vocab.txt"] = "mirror-etag-1";
        string repoFolder = tmp.File("cache", "models--acme--tiny-bert");
        string blob = Path.Combine(repoFolder, "blobs", "mirror-etag-1");

        string first = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        CollectionAssert.AreEqual(vocab, File.ReadAllBytes(Path.Combine(first, "vocab.txt")));
        string record = Path.Combine(repoFolder, ".sha256", "mirror-etag-1");
        Assert.IsTrue(File.Exists(record), "a blob that its ETag cannot check was stored without a recorded sha256");
        Assert.AreEqual(FakeHub.Sha256(vocab), File.ReadAllText(record));
        Assert.HasCount(1, Directory.GetFiles(Path.Combine(repoFolder, ".sha256")), "only the blob without a hash ETag gets a record");

        // The blob changes on disk (same length); a new commit reuses it: the record catches it and the blob is fetched again.
        byte[] tampered = (byte[])vocab.Clone();
        tampered[0] ^= 0x20;
        File.WriteAllBytes(blob, tampered);
        string second = repo.Commit(new Dictionary<string, byte[]>(repo.Files) { ["config.json"] = Encoding.UTF8.GetBytes("{\"model_type\": \"bert\", \"v\": 2}\n") });
        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        Assert.AreEqual(tmp.File("cache", "models--acme--tiny-bert", "snapshots", second), folder);
        CollectionAssert.AreEqual(vocab, File.ReadAllBytes(Path.Combine(folder, "vocab.txt")), "a changed blob was reused");
        Assert.AreEqual(1, hub.Hub.Requests.Count(r => r.Method == "GET" && r.Path.EndsWith($"/resolve/{second}/vocab.txt", StringComparison.Ordinal)),
            "the changed blob was downloaded again");
    }

    [TestMethod]
    public void AnLfsFileWhoseLinkedEtagIsNotASha256IsRefused()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        hub.OpaqueEtags["model.safetensors"] = "not-a-sha256";

        // An LFS file is named by its sha256 on the hub: an X-Linked-Etag that is not one is refused before any download.
        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp)));
        Console.WriteLine(e.Message);
        StringAssert.Contains(e.Message, "X-Linked-Etag 'not-a-sha256' that is not a sha256");
        Assert.AreEqual(0, hub.Cdn.Requests.Count(r => r.Method == "GET"));
        Assert.IsFalse(File.Exists(tmp.File("cache", "models--acme--tiny-bert", "blobs", "not-a-sha256")));
    }

    [TestMethod]
    public void ARedirectLoopIsNamedAsSuchNotAsOffline()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.Renamed["acme/loop-a"] = "acme/loop-b";
        hub.Renamed["acme/loop-b"] = "acme/loop-a";

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve("acme/loop-a", Options(hub, tmp)));

        Console.WriteLine(e.Message);
        Assert.AreEqual(HubErrorKind.DownloadFailed, e.Kind, e.Message);
        StringAssert.Contains(e.Message, "redirected more than 10 times");
        Assert.DoesNotContain("offline", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [TestMethod]
    public void ASecondResolveReusesTheCacheWithoutDownloading()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo());
        string first = HubModelResolver.Resolve(RepoId, Options(hub, tmp));
        int hubRequests = hub.Hub.Requests.Count, cdnRequests = hub.Cdn.Requests.Count;

        string second = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        Assert.AreEqual(first, second);
        Assert.AreEqual(hubRequests + 1, hub.Hub.Requests.Count, "only the revision API call, to learn the current commit");
        Assert.AreEqual(cdnRequests, hub.Cdn.Requests.Count);
        Assert.AreEqual(2, Count(hub.Hub, "GET", "/api/models/"));
    }

    [TestMethod]
    public void BlobsAreSharedBetweenCommits()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        string first = HubModelResolver.Resolve(RepoId, Options(hub, tmp));
        var files = new Dictionary<string, byte[]>(repo.Files) { ["config.json"] = Encoding.UTF8.GetBytes("{\"model_type\": \"bert\", \"v\": 2}\n") };
        string second = repo.Commit(files);
        int cdnRequests = hub.Cdn.Requests.Count;

        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        Assert.AreEqual(tmp.File("cache", "models--acme--tiny-bert", "snapshots", second), folder);
        Assert.AreEqual(second, File.ReadAllText(tmp.File("cache", "models--acme--tiny-bert", "refs", "main")));
        Assert.AreEqual(cdnRequests, hub.Cdn.Requests.Count, "the unchanged weights blob is linked, not downloaded again");
        Assert.AreEqual(1, hub.Hub.Requests.Count(r => r.Method == "GET" && r.Path.Contains("/resolve/" + second + "/", StringComparison.Ordinal)),
            "only the changed config.json is downloaded");
        Assert.IsTrue(Directory.Exists(first), "the old snapshot stays");

        // A pinned commit resolves to its own snapshot.
        string pinned = HubModelResolver.Resolve($"{RepoId}@{new DirectoryInfo(first).Name}", Options(hub, tmp));
        Assert.AreEqual(first, pinned);
    }

    [TestMethod]
    public void ShardedWeightsDownloadTheIndexAndEveryShard()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var files = BertRepo();
        files.Remove("model.safetensors");
        files["model-00001-of-00002.safetensors"] = RandomBytes(7, 3000);
        files["model-00002-of-00002.safetensors"] = RandomBytes(8, 2000);
        files["model.safetensors.index.json"] = Encoding.UTF8.GetBytes(
            "{\"metadata\": {\"total_size\": 5000}, \"weight_map\": {\"a\": \"model-00001-of-00002.safetensors\", " +
            "\"b\": \"model-00001-of-00002.safetensors\", \"c\": \"model-00002-of-00002.safetensors\"}}");
        hub.AddRepo(RepoId, files);

        string folder = HubModelResolver.Resolve(RepoId, Options(hub, tmp));

        foreach (string f in new[] { "model.safetensors.index.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors" })
            CollectionAssert.AreEqual(files[f], File.ReadAllBytes(Path.Combine(folder, f)), f);
        Assert.AreEqual(2, hub.Cdn.Requests.Count);
    }

    [TestMethod]
    public void MissingRepositoriesRevisionsAndFilesAreNamed()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo());

        var repo = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve("acme/nope", Options(hub, tmp)));
        Assert.AreEqual(HubErrorKind.NotFound, repo.Kind);
        StringAssert.Contains(repo.Message, "acme/nope");
        StringAssert.Contains(repo.Message, "not found");

        var revision = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId + "@v9", Options(hub, tmp)));
        StringAssert.Contains(revision.Message, "no revision 'v9'");

        var noConfig = BertRepo();
        noConfig.Remove("config.json");
        hub.AddRepo("acme/no-config", noConfig);
        StringAssert.Contains(Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve("acme/no-config", Options(hub, tmp))).Message, "has no config.json");

        var pickleOnly = BertRepo();
        pickleOnly.Remove("model.safetensors");
        hub.AddRepo("acme/pickle", pickleOnly);
        var pickle = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve("acme/pickle", Options(hub, tmp)));
        StringAssert.Contains(pickle.Message, "pytorch_model.bin");
        StringAssert.Contains(pickle.Message, "never downloaded");
        Assert.AreEqual(0, Count(hub.Hub, "GET", "pytorch_model.bin"));

        var sharded = BertRepo();
        sharded.Remove("model.safetensors");
        sharded["model.safetensors.index.json"] = Encoding.UTF8.GetBytes("{\"weight_map\": {\"a\": \"model-00001-of-00001.safetensors\"}}");
        hub.AddRepo("acme/lost-shard", sharded);
        StringAssert.Contains(Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve("acme/lost-shard", Options(hub, tmp))).Message,
            "model-00001-of-00001.safetensors");
    }

    [TestMethod]
    public void OfflineModeUsesOnlyTheCache()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        var offline = new Dictionary<string, string> { ["HF_HUB_OFFLINE"] = "1" };

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp, env: offline)));
        Assert.AreEqual(HubErrorKind.Offline, e.Kind);
        StringAssert.Contains(e.Message, "HF_HUB_OFFLINE");
        StringAssert.Contains(e.Message, RepoId);
        StringAssert.Contains(e.Message, tmp.File("cache"));
        Assert.AreEqual(0, hub.Hub.Requests.Count, "offline means no request at all");

        string online = HubModelResolver.Resolve(RepoId, Options(hub, tmp));
        int requests = hub.Hub.Requests.Count;
        Assert.AreEqual(online, HubModelResolver.Resolve(RepoId, Options(hub, tmp, env: new() { ["HF_HUB_OFFLINE"] = "true" })));
        Assert.AreEqual(online, HubModelResolver.Resolve($"{RepoId}@{repo.Main}", Options(hub, tmp) with { Offline = true }));
        Assert.AreEqual(requests, hub.Hub.Requests.Count);

        // A snapshot whose weights are gone is not used.
        File.Delete(Path.Combine(online, "model.safetensors"));
        StringAssert.Contains(Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp, env: offline))).Message, "model.safetensors");
    }

    [TestMethod]
    public void ACacheWrittenByHuggingfaceHubIsUsed()
    {
        // The layout huggingface_hub writes, made by hand: blobs, relative symlinks in snapshots, refs/main.
        using var tmp = new TempFolder();
        string commit = new('a', 40);
        string repoFolder = tmp.File("cache", "models--Qwen--Qwen3-0.6B");
        Directory.CreateDirectory(Path.Combine(repoFolder, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoFolder, "refs"));
        string snapshot = Path.Combine(repoFolder, "snapshots", commit);
        Directory.CreateDirectory(snapshot);
        File.WriteAllText(Path.Combine(repoFolder, "refs", "main"), commit);
        foreach (var (file, content) in new[] { ("config.json", "{}"), ("model.safetensors", "weights"), ("tokenizer.json", "{}") })
        {
            byte[] bytes = Encoding.UTF8.GetBytes(content);
            string etag = FakeHub.Etag(file, bytes);
            File.WriteAllBytes(Path.Combine(repoFolder, "blobs", etag), bytes);
            File.CreateSymbolicLink(Path.Combine(snapshot, file), $"../../blobs/{etag}");
        }
        var env = new Dictionary<string, string> { ["HF_HUB_CACHE"] = tmp.File("cache"), ["HF_HUB_OFFLINE"] = "1", ["HF_TOKEN_PATH"] = tmp.File("no-token") };

        Assert.AreEqual(snapshot, HubModelResolver.Resolve("Qwen/Qwen3-0.6B", new HubOptions { EnvironmentVariables = env.GetValueOrDefault }));
    }

    [TestMethod]
    public void AnUnreachableHubFallsBackToTheCacheOrSaysOffline()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo());
        var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        string deadEndpoint = $"http://127.0.0.1:{((IPEndPoint)closed.LocalEndpoint).Port}";
        closed.Stop();

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp) with { Endpoint = deadEndpoint }));
        Assert.AreEqual(HubErrorKind.Offline, e.Kind);
        StringAssert.Contains(e.Message, "Cannot reach");
        StringAssert.Contains(e.Message, "offline");
        StringAssert.Contains(e.Message, "HF_HUB_OFFLINE=1");
        StringAssert.Contains(e.Message, "local model folder");

        string cached = HubModelResolver.Resolve(RepoId, Options(hub, tmp));
        Assert.AreEqual(cached, HubModelResolver.Resolve(RepoId, Options(hub, tmp) with { Endpoint = deadEndpoint }));
    }

    [TestMethod]
    public void EnvironmentVariablesPointAtTheHubAndTheCache()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        hub.AddRepo(RepoId, BertRepo(), Access.Gated);
        var env = new Dictionary<string, string>
        {
            ["HF_ENDPOINT"] = hub.Hub.BaseUri + "/",
            ["HF_HOME"] = tmp.File("home"),
            ["HF_TOKEN"] = FakeHub.Token,
        };

        string folder = HubModelResolver.Resolve(RepoId, new HubOptions { EnvironmentVariables = env.GetValueOrDefault, RetryDelay = TimeSpan.Zero });

        StringAssert.StartsWith(folder, tmp.File("home", "hub", "models--acme--tiny-bert", "snapshots"));
    }

    [TestMethod]
    public void SettingsFollowHuggingfaceHubPrecedence()
    {
        static HubSettings With(Dictionary<string, string> env, HubOptions? options = null) =>
            ((options ?? new HubOptions()) with { EnvironmentVariables = env.GetValueOrDefault }).Resolve();
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        using var tmp = new TempFolder();
        string noToken = tmp.File("no-token");

        var defaults = With(new() { ["HF_TOKEN_PATH"] = noToken });
        Assert.AreEqual(Path.Combine(home, ".cache", "huggingface", "hub"), defaults.CacheDirectory);
        Assert.AreEqual("https://huggingface.co/", defaults.Endpoint.ToString());
        Assert.IsNull(defaults.Token);
        Assert.IsFalse(defaults.Offline);

        Assert.AreEqual(Path.Combine("/x", "huggingface", "hub"), With(new() { ["XDG_CACHE_HOME"] = "/x", ["HF_TOKEN_PATH"] = noToken }).CacheDirectory);
        Assert.AreEqual(Path.Combine("/h", "hub"), With(new() { ["XDG_CACHE_HOME"] = "/x", ["HF_HOME"] = "/h" }).CacheDirectory);
        Assert.AreEqual(Path.GetFullPath("/legacy"), With(new() { ["HF_HOME"] = "/h", ["HUGGINGFACE_HUB_CACHE"] = "/legacy" }).CacheDirectory);
        Assert.AreEqual(Path.GetFullPath("/c"), With(new() { ["HF_HOME"] = "/h", ["HUGGINGFACE_HUB_CACHE"] = "/legacy", ["HF_HUB_CACHE"] = "/c" }).CacheDirectory);
        Assert.AreEqual(Path.GetFullPath("/o"), With(new() { ["HF_HUB_CACHE"] = "/c" }, new HubOptions { CacheDirectory = "/o" }).CacheDirectory);
        Assert.AreEqual(Path.Combine(home, "hfh", "hub"), With(new() { ["HF_HOME"] = "~/hfh" }).CacheDirectory);

        Assert.AreEqual("http://mirror.local/", With(new() { ["HF_ENDPOINT"] = "http://mirror.local/" }).Endpoint.ToString());
        Assert.ThrowsExactly<ArgumentException>(() => With(new() { ["HF_ENDPOINT"] = "ftp://x" }));

        foreach (string yes in new[] { "1", "ON", "yes", "True" })
            Assert.IsTrue(With(new() { ["HF_HUB_OFFLINE"] = yes }).Offline, yes);
        foreach (string no in new[] { "0", "off", "", "2" })
            Assert.IsFalse(With(new() { ["HF_HUB_OFFLINE"] = no }).Offline, no);
        Assert.IsTrue(With(new() { ["TRANSFORMERS_OFFLINE"] = "1" }).Offline);
        Assert.IsFalse(With(new() { ["HF_HUB_OFFLINE"] = "1" }, new HubOptions { Offline = false }).Offline);

        File.WriteAllText(tmp.File("token"), "  hf_file\n");
        Assert.AreEqual("hf_file", With(new() { ["HF_TOKEN_PATH"] = tmp.File("token") }).Token);
        Assert.AreEqual("hf_legacy", With(new() { ["HF_TOKEN_PATH"] = tmp.File("token"), ["HUGGING_FACE_HUB_TOKEN"] = "hf_legacy" }).Token);
        Assert.AreEqual("hf_env", With(new() { ["HUGGING_FACE_HUB_TOKEN"] = "hf_legacy", ["HF_TOKEN"] = "hf_env\r\n" }).Token);
        Assert.AreEqual("hf_opt", With(new() { ["HF_TOKEN"] = "hf_env" }, new HubOptions { Token = "hf_opt" }).Token);
        Assert.IsNull(With(new() { ["HF_TOKEN"] = "hf_env" }, new HubOptions { Token = "" }).Token, "an empty token means none");
    }

    [TestMethod]
    public void ABlobLockedByAnotherDownloaderIsWaitedFor()
    {
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        string sha = FakeHub.Sha256(repo.Files["model.safetensors"]);
        string lockPath = tmp.File("cache", ".locks", "models--acme--tiny-bert", sha + ".lock");
        Directory.CreateDirectory(Path.GetDirectoryName(lockPath)!);

        using (new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None))
        {
            var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp) with { LockTimeout = TimeSpan.FromMilliseconds(300) }));
            Assert.AreEqual(HubErrorKind.LockTimeout, e.Kind);
            StringAssert.Contains(e.Message, lockPath);
            Assert.AreEqual(0, hub.Cdn.Requests.Count, "nothing is downloaded while another process holds the lock");
        }
        Assert.IsTrue(File.Exists(Path.Combine(HubModelResolver.Resolve(RepoId, Options(hub, tmp)), "model.safetensors")));
    }

    [TestMethod]
    public void AFullDiskIsNamedWithTheCacheFolder()
    {
        if (!File.Exists("/dev/full"))
            Assert.Inconclusive("needs /dev/full (Linux) to make writes fail with ENOSPC");
        using var tmp = new TempFolder();
        using var hub = new FakeHub();
        var repo = hub.AddRepo(RepoId, BertRepo());
        // Every write to /dev/full fails with ENOSPC: link the weights' incomplete file to it.
        string blobs = tmp.File("cache", "models--acme--tiny-bert", "blobs");
        Directory.CreateDirectory(blobs);
        File.CreateSymbolicLink(Path.Combine(blobs, FakeHub.Sha256(repo.Files["model.safetensors"]) + ".incomplete"), "/dev/full");

        var e = Assert.ThrowsExactly<HubException>(() => HubModelResolver.Resolve(RepoId, Options(hub, tmp)));

        Assert.AreEqual(HubErrorKind.DiskFull, e.Kind);
        StringAssert.Contains(e.Message, "disk is full");
        StringAssert.Contains(e.Message, tmp.File("cache"));
        StringAssert.Contains(e.Message, "model.safetensors");
        Assert.IsTrue(HubCache.IsDiskFull(new IOException("No space left on device", 28)));
        Assert.IsFalse(HubCache.IsDiskFull(new IOException("Permission denied", 13)));
    }

    /// <summary>IProgress that records reports as they happen (Progress&lt;T&gt; posts them later, to a thread pool).</summary>
    private sealed class SynchronousProgress(List<DownloadProgress> reports) : IProgress<DownloadProgress>
    {
        public void Report(DownloadProgress value)
        {
            lock (reports) reports.Add(value);
        }
    }
}

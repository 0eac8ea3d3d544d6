using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MLNetLlmClassifier.Cli.Scoring;
using MLNetLlmClassifier.Cli.Serving;

namespace MLNetLlmClassifier.Tests.Cli;

/// <summary>
/// The serving machinery without a model: the micro-batching queue, the server's 429, shutdown and metrics, over a stand-in scorer
/// that a test can hold (a gate) so that queue states are reached deterministically (no timing).
/// </summary>
[TestClass]
public class ServingFakeScorerTests
{
    /// <summary>Scores "text" as class A when it contains 'a', else B; waits on <see cref="Gate"/> first; records batch sizes.</summary>
    internal sealed class GatedScorer : ITextScorer, IDisposable
    {
        public readonly SemaphoreSlim Gate = new(0);
        public readonly SemaphoreSlim Entered = new(0);
        public readonly List<int> Batches = [];
        public bool Blocking = true;

        public IReadOnlyList<string> ClassNames { get; } = ["A", "B"];
        public bool TakesPairs => false;

        public IReadOnlyList<ScoredText> Score(IReadOnlyList<TextPair> rows)
        {
            lock (Batches) Batches.Add(rows.Count);
            Entered.Release();
            if (Blocking && !Gate.Wait(TimeSpan.FromSeconds(60))) throw new TimeoutException("the test never opened the gate");
            return rows.Select(r => r.Text.Contains('a') ? new ScoredText("A", [0.9f, 0.1f]) : new ScoredText("B", [0.2f, 0.8f])).ToArray();
        }

        public void Dispose()
        {
            Gate.Dispose();
            Entered.Dispose();
        }
    }

    private static ServeOptions Loopback(int maxBatch = 4, int maxQueue = 16) => new()
    {
        Urls = "http://127.0.0.1:0",
        MaxBatchSize = maxBatch,
        MaxQueueLength = maxQueue,
        MaxWaitMilliseconds = 0,
        ShutdownTimeoutSeconds = 30,
    };

    private static HttpClient Client(ClassifierServer server) => new() { BaseAddress = new Uri(server.Urls[0]), Timeout = TimeSpan.FromSeconds(60) };

    private static Task<HttpResponseMessage> Post(HttpClient c, object body) => c.PostAsJsonAsync("/predict", body);

    [TestMethod]
    public async Task QueueBatchesItemsOfSeveralRequestsAndRoutesEachResultToItsRequest()
    {
        using var scorer = new GatedScorer();
        await using var queue = new MicroBatchQueue<TextPair, ScoredText>(scorer.Score, maxBatch: 4, TimeSpan.Zero, capacity: 100);
        Assert.IsTrue(queue.TryEnqueue([new TextPair("first")], out var first));
        Assert.IsTrue(scorer.Entered.Wait(TimeSpan.FromSeconds(30)), "the worker took the first request");
        // While the worker is held, five texts of three requests wait; released, they go as a batch of 4 and one of 1.
        Assert.IsTrue(queue.TryEnqueue([new TextPair("a1"), new TextPair("b2")], out var second));
        Assert.IsTrue(queue.TryEnqueue([new TextPair("b3")], out var third));
        Assert.IsTrue(queue.TryEnqueue([new TextPair("a4"), new TextPair("a5")], out var fourth));
        Assert.AreEqual(5, queue.Waiting);
        scorer.Gate.Release(3);
        var results = await Task.WhenAll(first!, second!, third!, fourth!);
        CollectionAssert.AreEqual(new[] { 1, 4, 1 }, scorer.Batches);
        CollectionAssert.AreEqual(new[] { "B" }, results[0].Select(r => r.Label).ToArray());
        CollectionAssert.AreEqual(new[] { "A", "B" }, results[1].Select(r => r.Label).ToArray());
        CollectionAssert.AreEqual(new[] { "B" }, results[2].Select(r => r.Label).ToArray());
        CollectionAssert.AreEqual(new[] { "A", "A" }, results[3].Select(r => r.Label).ToArray());
        Assert.AreEqual(0, queue.Waiting);
    }

    [TestMethod]
    public async Task QueueRefusesBeyondItsCapacityAndAfterCompletion()
    {
        using var scorer = new GatedScorer();
        var queue = new MicroBatchQueue<TextPair, ScoredText>(scorer.Score, maxBatch: 1, TimeSpan.Zero, capacity: 2);
        Assert.IsTrue(queue.TryEnqueue([new TextPair("x")], out var held));
        Assert.IsTrue(scorer.Entered.Wait(TimeSpan.FromSeconds(30)));
        Assert.IsTrue(queue.TryEnqueue([new TextPair("y"), new TextPair("z")], out var full));
        Assert.IsFalse(queue.TryEnqueue([new TextPair("over")], out var refused), "a third waiting text exceeds the capacity of 2");
        Assert.IsNull(refused);
        var completing = queue.CompleteAsync();
        Assert.IsFalse(queue.TryEnqueue([new TextPair("late")], out _), "nothing is accepted once completing");
        scorer.Gate.Release(3);
        await completing;
        Assert.AreEqual(1, (await held!).Length);
        Assert.AreEqual(2, (await full!).Length, "items queued before completion are still processed");
    }

    [TestMethod]
    public async Task FullQueueAnswers429AndTheHeldRequestsStillSucceed()
    {
        using var scorer = new GatedScorer();
        await using var server = ClassifierServer.Create(scorer, Loopback(maxBatch: 1, maxQueue: 2), "fake");
        await server.StartAsync();
        using var client = Client(server);
        var held = Post(client, new { text = "held" });
        Assert.IsTrue(scorer.Entered.Wait(TimeSpan.FromSeconds(30)), "the first request reached the scorer");
        var waiting = Post(client, new { texts = new[] { "w1", "w2" } });
        // The two texts are queued once /health reports them.
        for (int i = 0; i < 600 && JsonDocument.Parse(await client.GetStringAsync("/health")).RootElement.GetProperty("queue_length").GetInt32() < 2; i++)
            await Task.Delay(50);
        using var refused = await Post(client, new { text = "one too many" });
        Assert.AreEqual(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.AreEqual("1", refused.Headers.RetryAfter?.ToString());
        StringAssert.Contains(await refused.Content.ReadAsStringAsync(), "queue is full");
        scorer.Gate.Release(3);
        using var a = await held;
        using var b = await waiting;
        Assert.AreEqual(HttpStatusCode.OK, a.StatusCode);
        Assert.AreEqual(HttpStatusCode.OK, b.StatusCode);
        Assert.AreEqual(2, JsonDocument.Parse(await b.Content.ReadAsStringAsync()).RootElement.GetProperty("predictions").GetArrayLength());
        string metrics = await client.GetStringAsync("/metrics");
        StringAssert.Contains(metrics, "mlnetllm_requests_total{path=\"/predict\",code=\"429\"} 1");
        StringAssert.Contains(metrics, "mlnetllm_requests_total{path=\"/predict\",code=\"200\"} 2");
        StringAssert.Contains(metrics, "mlnetllm_texts_total 3");
        StringAssert.Contains(metrics, "mlnetllm_batch_size_bucket{le=\"1\"} 3");
        StringAssert.Contains(metrics, "mlnetllm_batch_size_count 3");
        StringAssert.Contains(metrics, "# TYPE mlnetllm_request_duration_seconds histogram");
        StringAssert.Contains(metrics, "mlnetllm_request_duration_seconds_count 3");
    }

    [TestMethod]
    public async Task ShutdownAnswersTheRequestInFlightThenRefusesConnections()
    {
        using var scorer = new GatedScorer();
        var server = ClassifierServer.Create(scorer, Loopback(), "fake");
        await server.StartAsync();
        using var client = Client(server);
        var inFlight = Post(client, new { text = "a text in flight" });
        Assert.IsTrue(scorer.Entered.Wait(TimeSpan.FromSeconds(30)));
        var stopping = server.StopAsync();
        Assert.IsFalse(stopping.IsCompleted, "stopping waits for the request in flight");
        scorer.Gate.Release();
        using var answer = await inFlight;
        Assert.AreEqual(HttpStatusCode.OK, answer.StatusCode, "the request in flight is answered during shutdown");
        Assert.AreEqual("A", JsonDocument.Parse(await answer.Content.ReadAsStringAsync()).RootElement.GetProperty("label").GetString());
        await stopping;
        using var fresh = new HttpClient { BaseAddress = client.BaseAddress };
        await Assert.ThrowsExactlyAsync<HttpRequestException>(() => fresh.GetAsync("/health"));
        await server.DisposeAsync();
    }

    [TestMethod]
    public async Task BadRequestsAreOneLineJsonErrors()
    {
        using var scorer = new GatedScorer { Blocking = false };
        var options = Loopback();
        options.MaxRequestBodyBytes = 256;
        options.MaxTextsPerRequest = 3;
        await using var server = ClassifierServer.Create(scorer, options, "fake");
        await server.StartAsync();
        using var client = Client(server);
        async Task Expect(HttpContent body, HttpStatusCode code, string fragment)
        {
            using var r = await client.PostAsync("/predict", body);
            string text = await r.Content.ReadAsStringAsync();
            Assert.AreEqual(code, r.StatusCode, text);
            StringAssert.Contains(JsonDocument.Parse(text).RootElement.GetProperty("error").GetString(), fragment);
        }
        await Expect(new StringContent("{not json"), HttpStatusCode.BadRequest, "not valid JSON");
        await Expect(JsonContent.Create(new { text = 3 }), HttpStatusCode.BadRequest, "\"text\" must be a string");
        await Expect(JsonContent.Create(new { text = "a", texts = new[] { "b" } }), HttpStatusCode.BadRequest, "exactly one of");
        await Expect(JsonContent.Create(new { texts = new[] { "a", "b", "c", "d" } }), HttpStatusCode.BadRequest, "give 1 to 3");
        await Expect(JsonContent.Create(new { text = "a", text2 = "b" }), HttpStatusCode.BadRequest, "takes one text");
        await Expect(JsonContent.Create(new { text = new string('x', 400) }), HttpStatusCode.RequestEntityTooLarge, "larger than 256 bytes");
        var openApi = JsonDocument.Parse(await client.GetStringAsync("/openapi.json")).RootElement;
        Assert.AreEqual("3.0.3", openApi.GetProperty("openapi").GetString());
        Assert.IsTrue(openApi.GetProperty("paths").TryGetProperty("/predict", out _));
    }

    [TestMethod]
    public void OptionsDefaultToLoopbackAndRejectBadValuesNamingTheOption()
    {
        var defaults = new ServeOptions();
        defaults.Validate();
        Assert.IsTrue(defaults.LoopbackOnly(), defaults.Urls);
        Assert.IsFalse(new ServeOptions { Urls = "http://0.0.0.0:5000" }.LoopbackOnly());
        var e = Assert.ThrowsExactly<ArgumentException>(() => new ServeOptions { MaxBatchSize = 0 }.Validate());
        StringAssert.Contains(e.Message, "MaxBatchSize");
        e = Assert.ThrowsExactly<ArgumentException>(() => new ServeOptions { Urls = "ftp://127.0.0.1:1" }.Validate());
        StringAssert.Contains(e.Message, "Urls");
        // The serve command's flags come from the options' declarations, with their documentation as help.
        var (code, output) = CliTests.Run("serve", "--help");
        Assert.AreEqual(0, code, output);
        StringAssert.Contains(output, "--max-wait-ms");
        StringAssert.Contains(output, "Default 1024");
    }
}

using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using MLNetLlmClassifier.Cli.Commands;
using MLNetLlmClassifier.Cli.Scoring;

namespace MLNetLlmClassifier.Cli.Serving;

/// <summary>
/// <c>mlnet-llm serve-bench</c>: a load generator for <c>serve</c>. It starts the server in-process on an ephemeral port of the loopback
/// interface (it never sends a request anywhere else), and for each concurrency sends one-text requests of AG News texts (the embedded
/// sample) from that many concurrent loops, each level bounded in requests and seconds; it reports requests/s and p50/p99 latency with
/// micro-batching, with batches of one (the same server, <c>--max-batch 1</c>), and for the one-row-at-a-time PredictionEngine called
/// directly (no HTTP).
/// </summary>
internal static class ServeBenchCommand
{
    /// <summary>One measured level.</summary>
    internal sealed record Level(string Mode, int Concurrency, int Requests, double Seconds, double RequestsPerSecond, double P50Ms, double P99Ms, double MeanBatchSize);

    /// <summary>PredictionEngine calls before the baseline is measured.</summary>
    private const int WarmUpCalls = 8;

    private static readonly JsonSerializerOptions JsonOut = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true };

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Trained ML.NET model (.zip).", Required = true };
        var concurrency = new Option<string>("--concurrency") { Description = "Concurrent clients, comma-separated. Default 1,4,16,64.", DefaultValueFactory = _ => "1,4,16,64" };
        var requests = new Option<int>("--requests") { Description = "Most requests per level. Default 256.", DefaultValueFactory = _ => 256 };
        var seconds = new Option<double>("--seconds") { Description = "Most seconds per level (requests in flight finish). Default 20.", DefaultValueFactory = _ => 20 };
        var unbatched = new Option<bool>("--skip-unbatched") { Description = "Skip the server with batches of one (--max-batch 1)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON array instead of a table." };
        var flags = new OptionsClassFlags(typeof(ServeOptions), except: [nameof(ServeOptions.Urls)]);
        var cmd = new Command("serve-bench", "Load-test serve on the loopback interface: requests/s and p50/p99 latency at several concurrencies, against one-row-at-a-time PredictionEngine scoring.");
        foreach (var o in new Option[] { model, concurrency, requests, seconds, unbatched, json }) cmd.Options.Add(o);
        flags.AddTo(cmd);
        cmd.SetAction(r => CliCommon.Run(r, () =>
        {
            var levels = r.GetValue(concurrency)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(c => int.TryParse(c, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 1024 ? n
                    : throw new ArgumentException($"--concurrency: '{c}' is not a number from 1 to 1024.")).ToArray();
            if (levels.Length == 0) throw new ArgumentException("--concurrency names no level.");
            int maxRequests = r.GetValue(requests);
            double maxSeconds = r.GetValue(seconds);
            if (maxRequests is < 1 or > 1_000_000) throw new ArgumentException($"--requests = {maxRequests} must be 1 to 1000000.");
            if (maxSeconds is <= 0 or > 3600 || !double.IsFinite(maxSeconds)) throw new ArgumentException($"--seconds = {maxSeconds} must be above 0 and at most 3600.");
            var options = new ServeOptions();
            flags.Apply(r, options);
            options.Urls = "http://127.0.0.1:0";
            options.Validate();
            bool quiet = r.GetValue(json);
            var log = quiet ? TextWriter.Null : Console.Out;
            using var scorer = ModelScorer.Load(r.GetValue(model)!);
            var texts = EmbeddedData.LoadAgNewsSample().Select(row => row.Text).ToArray();
            var results = Run(scorer, texts, levels, maxRequests, maxSeconds, options, !r.GetValue(unbatched), log).GetAwaiter().GetResult();
            if (quiet) Console.WriteLine(JsonSerializer.Serialize(results, JsonOut));
            else
            {
                Console.WriteLine();
                Console.WriteLine("| mode | concurrency | requests | requests/s | p50 ms | p99 ms | mean batch |");
                Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
                foreach (var l in results)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"| {l.Mode} | {l.Concurrency} | {l.Requests} | {l.RequestsPerSecond:F1} | {l.P50Ms:F1} | {l.P99Ms:F1} | {l.MeanBatchSize:F1} |"));
            }
            return 0;
        }));
        return cmd;
    }

    /// <summary>Measures the PredictionEngine baseline, then the server (micro-batched, and with batches of one) at each concurrency.</summary>
    internal static async Task<List<Level>> Run(ModelScorer scorer, IReadOnlyList<string> texts, IReadOnlyList<int> concurrency, int maxRequests,
        double maxSeconds, ServeOptions options, bool unbatched, TextWriter log)
    {
        var results = new List<Level>();
        // Baseline: one row per PredictionEngine call, one caller (an engine is not thread-safe). Warm-up calls first, as the
        // server's levels get (one request per connection), plus a few for the engine's first-call costs.
        for (int i = 0; i < WarmUpCalls; i++) scorer.ScoreOne(new TextPair(texts[i % texts.Count]));
        var latencies = new List<double>();
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < maxRequests && sw.Elapsed.TotalSeconds < maxSeconds; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            scorer.ScoreOne(new TextPair(texts[i % texts.Count]));
            latencies.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
        }
        results.Add(Summarise("PredictionEngine, one row per call (no HTTP)", 1, latencies, sw.Elapsed.TotalSeconds, 1));
        log.WriteLine(Line(results[^1]));

        var modes = new List<(string Name, int MaxBatch)> { ($"serve, micro-batched (max batch {options.MaxBatchSize}, max wait {options.MaxWaitMilliseconds} ms)", options.MaxBatchSize) };
        if (unbatched) modes.Add(("serve, batches of one (--max-batch 1)", 1));
        foreach (var (name, maxBatch) in modes)
        {
            var serveOptions = new ServeOptions
            {
                Urls = "http://127.0.0.1:0",
                MaxBatchSize = maxBatch,
                MaxWaitMilliseconds = options.MaxWaitMilliseconds,
                MaxQueueLength = Math.Max(options.MaxQueueLength, concurrency.Max()),
                MaxRequestBodyBytes = options.MaxRequestBodyBytes,
                MaxTextsPerRequest = options.MaxTextsPerRequest,
                ShutdownTimeoutSeconds = options.ShutdownTimeoutSeconds,
            };
            await using var server = ClassifierServer.Create(scorer, serveOptions, "serve-bench");
            await server.StartAsync().ConfigureAwait(false);
            var url = new Uri(server.Urls[0]);
            if (!url.IsLoopback) throw new InvalidOperationException($"serve-bench only targets the loopback interface, not {url}.");
            foreach (int c in concurrency)
            {
                using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = c };
                using var client = new HttpClient(handler) { BaseAddress = url, Timeout = TimeSpan.FromSeconds(Math.Max(60, maxSeconds * 2)) };
                // Warm-up: one request per connection, not counted.
                await Task.WhenAll(Enumerable.Range(0, c).Select(i => Send(client, texts[i % texts.Count]))).ConfigureAwait(false);
                long textsBefore = server.Metrics.TextsScored, batchesBefore = server.Metrics.BatchesScored;
                var all = new List<double>();
                int issued = 0;
                var clock = Stopwatch.StartNew();
                async Task Loop()
                {
                    var mine = new List<double>();
                    int i;
                    while ((i = Interlocked.Increment(ref issued)) <= maxRequests && clock.Elapsed.TotalSeconds < maxSeconds)
                    {
                        long t0 = Stopwatch.GetTimestamp();
                        await Send(client, texts[i % texts.Count]).ConfigureAwait(false);
                        mine.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                    }
                    lock (all) all.AddRange(mine);
                }
                await Task.WhenAll(Enumerable.Range(0, c).Select(_ => Task.Run(Loop))).ConfigureAwait(false);
                double elapsed = clock.Elapsed.TotalSeconds;
                long batches = server.Metrics.BatchesScored - batchesBefore;
                double meanBatch = batches == 0 ? 0 : (server.Metrics.TextsScored - textsBefore) / (double)batches;
                results.Add(Summarise(name, c, all, elapsed, meanBatch));
                log.WriteLine(Line(results[^1]));
            }
            await server.StopAsync().ConfigureAwait(false);
        }
        return results;
    }

    private static async Task Send(HttpClient client, string text)
    {
        using var response = await client.PostAsJsonAsync("/predict", new { text }).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new InvalidOperationException($"serve answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
    }

    private static Level Summarise(string mode, int concurrency, List<double> latencies, double seconds, double meanBatch)
    {
        latencies.Sort();
        double Percentile(double p) => latencies.Count == 0 ? 0 : latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(p * latencies.Count) - 1)];
        return new Level(mode, concurrency, latencies.Count, seconds, latencies.Count / Math.Max(seconds, 1e-9), Percentile(0.50), Percentile(0.99), meanBatch);
    }

    private static string Line(Level l) => string.Create(CultureInfo.InvariantCulture,
        $"[{DateTime.Now:HH:mm:ss}] {l.Mode}, concurrency {l.Concurrency}: {l.Requests} requests in {l.Seconds:F1} s, {l.RequestsPerSecond:F1} requests/s, p50 {l.P50Ms:F1} ms, p99 {l.P99Ms:F1} ms, mean batch {l.MeanBatchSize:F1}");
}

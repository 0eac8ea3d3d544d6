using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MLNetLlmClassifier.Cli.Scoring;

namespace MLNetLlmClassifier.Cli.Serving;

/// <summary>
/// The HTTP server of <c>mlnet-llm serve</c> (ASP.NET Core minimal API over Kestrel):
/// <list type="bullet">
/// <item><c>POST /predict</c>: <c>{"text": "..."}</c> → <c>{"label": ..., "probabilities": {class: p}}</c>, or
/// <c>{"texts": [...]}</c> → <c>{"predictions": [...]}</c>; sentence-pair models take <c>text2</c> / <c>texts2</c> as well.
/// Texts of all requests are scored together by a <see cref="MicroBatchQueue{TIn, TOut}"/>.</item>
/// <item><c>GET /health</c>: the model's classes and the queue; 503 while shutting down.</item>
/// <item><c>GET /metrics</c>: Prometheus text (<see cref="ServeMetrics"/>).</item>
/// <item><c>GET /openapi.json</c>: an OpenAPI 3.0 description of the above.</item>
/// </list>
/// Errors are JSON <c>{"error": "one line"}</c>: 400 bad request, 413 body too large, 429 queue full (with Retry-After), 503 stopping.
/// Stopping refuses new connections and answers every request already accepted before the process ends.
/// </summary>
internal sealed class ClassifierServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly MicroBatchQueue<TextPair, ScoredText> _queue;
    private readonly ITextScorer _scorer;
    private readonly ServeOptions _options;
    private readonly string _modelName;
    private volatile bool _stopping;

    private ClassifierServer(ITextScorer scorer, ServeOptions options, string modelName)
    {
        options.Validate();
        _scorer = scorer;
        _options = options;
        _modelName = modelName;
        Metrics = new ServeMetrics();
        _queue = new MicroBatchQueue<TextPair, ScoredText>(scorer.Score, options.MaxBatchSize,
            TimeSpan.FromMilliseconds(options.MaxWaitMilliseconds), options.MaxQueueLength, Metrics.Batch);
        Metrics.QueueLength = () => _queue.Waiting;

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.ParseUrls());
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            k.AddServerHeader = false;
        });
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownTimeoutSeconds));
        _app = builder.Build();
        _app.Lifetime.ApplicationStopping.Register(() => _stopping = true);
        _app.Use(async (ctx, next) =>
        {
            var sw = Stopwatch.StartNew();
            await next(ctx).ConfigureAwait(false);
            string path = ctx.Request.Path.Value is "/predict" or "/health" or "/metrics" or "/openapi.json" ? ctx.Request.Path.Value : "other";
            Metrics.Request(path, ctx.Response.StatusCode, sw.Elapsed);
        });
        _app.MapPost("/predict", PredictAsync);
        _app.MapGet("/health", HealthAsync);
        _app.MapGet("/metrics", (HttpContext ctx) => WriteAsync(ctx, 200, "text/plain; version=0.0.4; charset=utf-8", Metrics.Render()));
        _app.MapGet("/openapi.json", (HttpContext ctx) => WriteAsync(ctx, 200, "application/json", OpenApi(scorer.TakesPairs)));
    }

    /// <summary>A server over <paramref name="scorer"/>, not started yet.</summary>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public static ClassifierServer Create(ITextScorer scorer, ServeOptions options, string modelName) => new(scorer, options, modelName);

    /// <summary>The counters and histograms of <c>/metrics</c>.</summary>
    public ServeMetrics Metrics { get; }

    /// <summary>The addresses listened on (ports resolved once started).</summary>
    public IReadOnlyList<string> Urls => _app.Urls.ToArray();

    /// <summary>Starts listening.</summary>
    public Task StartAsync(CancellationToken cancel = default) => _app.StartAsync(cancel);

    /// <summary>Stops gracefully: no new connections, every accepted request answered (up to the shutdown timeout), then the queue drained.</summary>
    public async Task StopAsync()
    {
        _stopping = true;
        await _app.StopAsync().ConfigureAwait(false);
        await _queue.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Waits until the host is stopped (Ctrl+C, SIGTERM, or <paramref name="cancel"/>), then drains the queue.</summary>
    public async Task WaitForShutdownAsync(CancellationToken cancel = default)
    {
        await _app.WaitForShutdownAsync(cancel).ConfigureAwait(false);
        await _queue.CompleteAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _queue.CompleteAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task PredictAsync(HttpContext ctx)
    {
        if (_stopping)
        {
            await ErrorAsync(ctx, 503, "the server is shutting down").ConfigureAwait(false);
            return;
        }
        JsonDocument doc;
        try
        {
            doc = await JsonDocument.ParseAsync(ctx.Request.Body, default, ctx.RequestAborted).ConfigureAwait(false);
        }
        catch (JsonException e)
        {
            await ErrorAsync(ctx, 400, $"the body is not valid JSON ({e.Message})").ConfigureAwait(false);
            return;
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await ErrorAsync(ctx, 413, $"the body is larger than {_options.MaxRequestBodyBytes} bytes (--max-body-bytes)").ConfigureAwait(false);
            return;
        }
        using var _ = doc;
        if (!TryReadRows(doc.RootElement, out var rows, out bool many, out string? problem))
        {
            await ErrorAsync(ctx, 400, problem!).ConfigureAwait(false);
            return;
        }
        if (!_queue.TryEnqueue(rows, out var pending))
        {
            ctx.Response.Headers.RetryAfter = "1";
            await ErrorAsync(ctx, 429, _stopping ? "the server is shutting down"
                : $"the queue is full ({_queue.Waiting} texts waiting, at most {_queue.Capacity}, --max-queue); retry later").ConfigureAwait(false);
            return;
        }
        IReadOnlyList<ScoredText> results;
        try
        {
            results = await pending!.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await ErrorAsync(ctx, 500, $"scoring failed: {CliCommonErrorText(e)}").ConfigureAwait(false);
            return;
        }
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer))
        {
            if (many)
            {
                w.WriteStartObject();
                w.WriteStartArray("predictions");
                foreach (var r in results) WritePrediction(w, r);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            else WritePrediction(w, results[0]);
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.Body.WriteAsync(buffer.WrittenMemory, ctx.RequestAborted).ConfigureAwait(false);
    }

    private static string CliCommonErrorText(Exception e) => Commands.CliCommon.ErrorLine(Commands.CliCommon.Unwrap(e))["error: ".Length..];

    private void WritePrediction(Utf8JsonWriter w, ScoredText r)
    {
        w.WriteStartObject();
        w.WriteString("label", r.Label);
        w.WriteStartObject("probabilities");
        for (int c = 0; c < _scorer.ClassNames.Count; c++) w.WriteNumber(_scorer.ClassNames[c], r.Probabilities[c]);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>Reads <c>text</c>/<c>texts</c> (and <c>text2</c>/<c>texts2</c> for pair models) from a request body.</summary>
    internal bool TryReadRows(JsonElement root, out TextPair[] rows, out bool many, out string? problem)
    {
        rows = [];
        many = false;
        problem = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            problem = "the body must be a JSON object: {\"text\": \"...\"} or {\"texts\": [\"...\", ...]}";
            return false;
        }
        bool pairs = _scorer.TakesPairs;
        bool hasOne = root.TryGetProperty("text", out var one);
        bool hasMany = root.TryGetProperty("texts", out var list);
        if (hasOne == hasMany)
        {
            problem = "give exactly one of \"text\" (a string) and \"texts\" (an array of strings)";
            return false;
        }
        string second = hasOne ? "text2" : "texts2";
        bool hasSecond = root.TryGetProperty(second, out var two);
        if (hasSecond != pairs)
        {
            problem = pairs ? $"this model classifies text pairs: give \"{second}\" too" : $"this model takes one text: \"{second}\" is not expected";
            return false;
        }
        string[]? Strings(JsonElement e, string name, out string? error)
        {
            error = null;
            if (e.ValueKind != JsonValueKind.Array)
            {
                error = $"\"{name}\" must be an array of strings";
                return null;
            }
            int n = e.GetArrayLength();
            if (n == 0 || n > _options.MaxTextsPerRequest)
            {
                error = $"\"{name}\" has {n} texts; give 1 to {_options.MaxTextsPerRequest} (--max-texts)";
                return null;
            }
            var result = new string[n];
            int i = 0;
            foreach (var item in e.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.String)
                {
                    error = $"\"{name}\"[{i}] is a JSON {item.ValueKind}, not a string";
                    return null;
                }
                result[i++] = item.GetString()!;
            }
            return result;
        }
        if (hasOne)
        {
            if (one.ValueKind != JsonValueKind.String || (pairs && two.ValueKind != JsonValueKind.String))
            {
                problem = pairs ? "\"text\" and \"text2\" must be strings" : "\"text\" must be a string";
                return false;
            }
            rows = [new TextPair(one.GetString()!, pairs ? two.GetString() : null)];
            return true;
        }
        many = true;
        var texts = Strings(list, "texts", out problem);
        if (texts is null) return false;
        string[]? texts2 = null;
        if (pairs)
        {
            texts2 = Strings(two, "texts2", out problem);
            if (texts2 is null) return false;
            if (texts2.Length != texts.Length)
            {
                problem = $"\"texts\" has {texts.Length} texts but \"texts2\" has {texts2.Length}";
                return false;
            }
        }
        rows = texts.Select((t, i) => new TextPair(t, texts2?[i])).ToArray();
        return true;
    }

    private Task HealthAsync(HttpContext ctx)
    {
        var body = new JsonObject
        {
            ["status"] = _stopping ? "stopping" : "ok",
            ["model"] = _modelName,
            ["classes"] = new JsonArray(_scorer.ClassNames.Select(c => (JsonNode)c).ToArray()),
            ["text_pairs"] = _scorer.TakesPairs,
            ["queue_length"] = _queue.Waiting,
            ["max_batch_size"] = _options.MaxBatchSize,
            ["max_wait_ms"] = _options.MaxWaitMilliseconds,
        };
        return WriteAsync(ctx, _stopping ? 503 : 200, "application/json", body.ToJsonString());
    }

    private static readonly JsonSerializerOptions Readable = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static Task ErrorAsync(HttpContext ctx, int code, string message) =>
        WriteAsync(ctx, code, "application/json", new JsonObject { ["error"] = message }.ToJsonString(Readable));

    private static async Task WriteAsync(HttpContext ctx, int code, string contentType, string body)
    {
        ctx.Response.StatusCode = code;
        ctx.Response.ContentType = contentType;
        await ctx.Response.WriteAsync(body, ctx.RequestAborted).ConfigureAwait(false);
    }

    /// <summary>The OpenAPI 3.0 description of the endpoints (hand-written: the shared framework has no generator).</summary>
    internal static string OpenApi(bool pairs)
    {
        static JsonObject Str() => new() { ["type"] = "string" };
        static JsonObject StrArray() => new() { ["type"] = "array", ["items"] = Str() };
        var requestProps = new JsonObject { ["text"] = Str(), ["texts"] = StrArray() };
        if (pairs)
        {
            requestProps["text2"] = Str();
            requestProps["texts2"] = StrArray();
        }
        JsonObject Error(string description) => new()
        {
            ["description"] = description,
            ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = "#/components/schemas/Error" } } },
        };
        var doc = new JsonObject
        {
            ["openapi"] = "3.0.3",
            ["info"] = new JsonObject { ["title"] = "mlnet-llm serve", ["version"] = "1.0" },
            ["paths"] = new JsonObject
            {
                ["/predict"] = new JsonObject
                {
                    ["post"] = new JsonObject
                    {
                        ["summary"] = pairs ? "Classify one text pair (text, text2) or many (texts, texts2)." : "Classify one text (text) or many (texts).",
                        ["requestBody"] = new JsonObject
                        {
                            ["required"] = true,
                            ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["type"] = "object", ["properties"] = requestProps } } },
                        },
                        ["responses"] = new JsonObject
                        {
                            ["200"] = new JsonObject
                            {
                                ["description"] = "A Prediction for \"text\"; {\"predictions\": [Prediction, ...]} for \"texts\".",
                                ["content"] = new JsonObject
                                {
                                    ["application/json"] = new JsonObject
                                    {
                                        ["schema"] = new JsonObject
                                        {
                                            ["oneOf"] = new JsonArray(
                                                new JsonObject { ["$ref"] = "#/components/schemas/Prediction" },
                                                new JsonObject
                                                {
                                                    ["type"] = "object",
                                                    ["properties"] = new JsonObject { ["predictions"] = new JsonObject { ["type"] = "array", ["items"] = new JsonObject { ["$ref"] = "#/components/schemas/Prediction" } } },
                                                }),
                                        },
                                    },
                                },
                            },
                            ["400"] = Error("Malformed request."),
                            ["413"] = Error("Body larger than the server's limit."),
                            ["429"] = Error("Queue full; retry after the Retry-After header's seconds."),
                            ["503"] = Error("Shutting down."),
                        },
                    },
                },
                ["/health"] = new JsonObject { ["get"] = new JsonObject { ["summary"] = "Model classes and queue length.", ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "Serving." }, ["503"] = new JsonObject { ["description"] = "Shutting down." } } } },
                ["/metrics"] = new JsonObject { ["get"] = new JsonObject { ["summary"] = "Prometheus text format metrics.", ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "Metrics.", ["content"] = new JsonObject { ["text/plain"] = new JsonObject { ["schema"] = Str() } } } } } },
            },
            ["components"] = new JsonObject
            {
                ["schemas"] = new JsonObject
                {
                    ["Prediction"] = new JsonObject
                    {
                        ["type"] = "object",
                        ["properties"] = new JsonObject
                        {
                            ["label"] = Str(),
                            ["probabilities"] = new JsonObject { ["type"] = "object", ["additionalProperties"] = new JsonObject { ["type"] = "number" } },
                        },
                    },
                    ["Error"] = new JsonObject { ["type"] = "object", ["properties"] = new JsonObject { ["error"] = Str() } },
                },
            },
        };
        return doc.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}

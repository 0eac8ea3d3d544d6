using System.Globalization;
using System.Text;

namespace MLNetLlmClassifier.Cli.Serving;

/// <summary>
/// The server's counters and histograms, rendered in the Prometheus text exposition format (version 0.0.4) at <c>/metrics</c>:
/// requests by endpoint and status code, texts scored, batches and their sizes, scoring time per batch, request latency, and the
/// queue's length. Thread-safe.
/// </summary>
internal sealed class ServeMetrics
{
    /// <summary>Upper bounds of the batch-size histogram's buckets.</summary>
    internal static readonly double[] BatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

    /// <summary>Upper bounds, in seconds, of the latency histograms' buckets.</summary>
    internal static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

    private readonly object _lock = new();
    private readonly SortedDictionary<(string Path, int Code), long> _requests = new();
    private readonly Histogram _batchSize = new(BatchSizeBuckets);
    private readonly Histogram _batchSeconds = new(LatencyBuckets);
    private readonly Histogram _latency = new(LatencyBuckets);
    private long _texts;

    /// <summary>Reads the queue's current length when the metrics are rendered.</summary>
    public Func<int>? QueueLength { get; set; }

    /// <summary>Texts scored so far.</summary>
    public long TextsScored
    {
        get { lock (_lock) return _texts; }
    }

    /// <summary>Batches scored so far.</summary>
    public long BatchesScored
    {
        get { lock (_lock) return _batchSize.Count; }
    }

    /// <summary>Counts a finished request.</summary>
    public void Request(string path, int statusCode, TimeSpan elapsed)
    {
        lock (_lock)
        {
            _requests[(path, statusCode)] = _requests.GetValueOrDefault((path, statusCode)) + 1;
            if (path == "/predict") _latency.Observe(elapsed.TotalSeconds);
        }
    }

    /// <summary>Counts a scored batch.</summary>
    public void Batch(int size, TimeSpan elapsed)
    {
        lock (_lock)
        {
            _texts += size;
            _batchSize.Observe(size);
            _batchSeconds.Observe(elapsed.TotalSeconds);
        }
    }

    /// <summary>The metrics in Prometheus text format.</summary>
    public string Render()
    {
        var sb = new StringBuilder();
        lock (_lock)
        {
            sb.Append("# HELP mlnetllm_requests_total HTTP requests answered, by path and status code.\n# TYPE mlnetllm_requests_total counter\n");
            foreach (var ((path, code), n) in _requests)
                sb.Append(CultureInfo.InvariantCulture, $"mlnetllm_requests_total{{path=\"{path}\",code=\"{code}\"}} {n}\n");
            sb.Append("# HELP mlnetllm_texts_total Texts scored.\n# TYPE mlnetllm_texts_total counter\n");
            sb.Append(CultureInfo.InvariantCulture, $"mlnetllm_texts_total {_texts}\n");
            _batchSize.Render(sb, "mlnetllm_batch_size", "Texts per forward pass (dynamic micro-batching).");
            _batchSeconds.Render(sb, "mlnetllm_batch_duration_seconds", "Time to score one batch.");
            _latency.Render(sb, "mlnetllm_request_duration_seconds", "Latency of POST /predict, from the request's arrival to its answer.");
        }
        sb.Append("# HELP mlnetllm_queue_length Texts waiting to be scored.\n# TYPE mlnetllm_queue_length gauge\n");
        sb.Append(CultureInfo.InvariantCulture, $"mlnetllm_queue_length {QueueLength?.Invoke() ?? 0}\n");
        return sb.ToString();
    }

    /// <summary>A Prometheus histogram: cumulative bucket counts, the sum and the count of observations.</summary>
    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length];
        private long _count;
        private double _sum;

        public long Count => _count;

        public void Observe(double value)
        {
            for (int i = 0; i < bounds.Length; i++)
                if (value <= bounds[i]) { _counts[i]++; break; }
            _count++;
            _sum += value;
        }

        public void Render(StringBuilder sb, string name, string help)
        {
            sb.Append(CultureInfo.InvariantCulture, $"# HELP {name} {help}\n# TYPE {name} histogram\n");
            long cumulative = 0;
            for (int i = 0; i < bounds.Length; i++)
            {
                cumulative += _counts[i];
                sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"{bounds[i].ToString("R", CultureInfo.InvariantCulture)}\"}} {cumulative}\n");
            }
            sb.Append(CultureInfo.InvariantCulture, $"{name}_bucket{{le=\"+Inf\"}} {_count}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_sum {_sum.ToString("R", CultureInfo.InvariantCulture)}\n");
            sb.Append(CultureInfo.InvariantCulture, $"{name}_count {_count}\n");
        }
    }
}

using System.Globalization;
using MLNetLlmClassifier.Configuration;

namespace MLNetLlmClassifier.Cli.Serving;

/// <summary>
/// The options of <c>mlnet-llm serve</c>, each declared once here with its default; the command's flags are derived from the
/// <see cref="CommandLineAliasAttribute"/>s (see <see cref="ServeCommand"/>), and <c>mlnet-llm options</c>-style tables read the same
/// declarations through <see cref="OptionCatalog"/>.
/// </summary>
internal sealed class ServeOptions
{
    /// <summary>Addresses to listen on, separated by ';'. Default http://127.0.0.1:5000: the loopback interface only; a port of 0 picks a free one. Give http://0.0.0.0:5000 to accept other machines (no authentication: put a proxy in front).</summary>
    [CommandLineAlias("--urls")]
    public string Urls { get; set; } = "http://127.0.0.1:5000";

    /// <summary>Most texts scored in one forward pass (dynamic micro-batching). Default 32.</summary>
    [CommandLineAlias("--max-batch")]
    public int MaxBatchSize { get; set; } = 32;

    /// <summary>Longest time, in milliseconds, the first text of a batch waits for others to join it before the batch is scored. Default 0: texts that arrive while a batch is scored form the next one, so batches still grow with the load; 2 to 5 fills batches on a GPU, where a full batch costs about as much as one text.</summary>
    [CommandLineAlias("--max-wait-ms")]
    public double MaxWaitMilliseconds { get; set; }

    /// <summary>Most texts waiting to be scored; a request that would exceed it is answered 429 (Too Many Requests). Default 1024.</summary>
    [CommandLineAlias("--max-queue")]
    public int MaxQueueLength { get; set; } = 1024;

    /// <summary>Largest request body, in bytes; a larger one is answered 413. Default 1048576 (1 MiB).</summary>
    [CommandLineAlias("--max-body-bytes")]
    public long MaxRequestBodyBytes { get; set; } = 1 << 20;

    /// <summary>Most texts in one request; more is answered 400. Default 256.</summary>
    [CommandLineAlias("--max-texts")]
    public int MaxTextsPerRequest { get; set; } = 256;

    /// <summary>On shutdown (Ctrl+C, SIGTERM), seconds given to requests in flight to finish; new connections are refused meanwhile. Default 30.</summary>
    [CommandLineAlias("--shutdown-timeout")]
    public double ShutdownTimeoutSeconds { get; set; } = 30;

    /// <summary>Checks every value; a bad one is an <see cref="ArgumentException"/> naming the option.</summary>
    public void Validate()
    {
        static void Require(bool ok, string name, object value, string rule)
        {
            if (!ok) throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"{name} = {value} is invalid: {rule}."));
        }
        Require(!string.IsNullOrWhiteSpace(Urls), nameof(Urls), Urls, "give at least one address such as http://127.0.0.1:5000");
        foreach (var url in ParseUrls())
            Require(Uri.TryCreate(url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal), UriKind.Absolute, out var u) && u.Scheme == "http",
                nameof(Urls), url, "each address must be an absolute http:// URL (put a TLS proxy in front for https)");
        Require(MaxBatchSize is >= 1 and <= 4096, nameof(MaxBatchSize), MaxBatchSize, "must be 1 to 4096");
        Require(MaxWaitMilliseconds is >= 0 and <= 10_000 && double.IsFinite(MaxWaitMilliseconds), nameof(MaxWaitMilliseconds), MaxWaitMilliseconds, "must be 0 to 10000");
        Require(MaxQueueLength >= 1, nameof(MaxQueueLength), MaxQueueLength, "must be at least 1");
        Require(MaxRequestBodyBytes >= 64, nameof(MaxRequestBodyBytes), MaxRequestBodyBytes, "must be at least 64");
        Require(MaxTextsPerRequest >= 1, nameof(MaxTextsPerRequest), MaxTextsPerRequest, "must be at least 1");
        Require(ShutdownTimeoutSeconds is >= 0 and <= 3600 && double.IsFinite(ShutdownTimeoutSeconds), nameof(ShutdownTimeoutSeconds), ShutdownTimeoutSeconds, "must be 0 to 3600");
    }

    /// <summary>The addresses of <see cref="Urls"/>.</summary>
    public string[] ParseUrls() => Urls.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>Whether every address is on the loopback interface (localhost, 127.0.0.0/8, [::1]).</summary>
    public bool LoopbackOnly() => ParseUrls().All(IsLoopbackUrl);

    /// <summary>Whether one address is on the loopback interface.</summary>
    public static bool IsLoopbackUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) && (u.IsLoopback || string.Equals(u.Host, "localhost", StringComparison.OrdinalIgnoreCase));
}

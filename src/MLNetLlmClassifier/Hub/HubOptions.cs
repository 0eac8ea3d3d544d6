namespace MLNetLlmClassifier.Hub;

/// <summary>
/// Settings for resolving hub ids. Every setting left <c>null</c> is read from the environment variables that
/// huggingface_hub reads, with its defaults, so this library and transformers / huggingface-cli share one cache.
/// </summary>
public sealed record HubOptions
{
    /// <summary>The default hub address.</summary>
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The hub address. Null: <c>HF_ENDPOINT</c>, else <see cref="DefaultEndpoint"/>.</summary>
    public string? Endpoint { get; init; }

    /// <summary>
    /// The hub cache folder (the one holding <c>models--owner--name</c> folders). Null: <c>HF_HUB_CACHE</c>,
    /// else <c>HUGGINGFACE_HUB_CACHE</c>, else <c>$HF_HOME/hub</c>, else <c>$XDG_CACHE_HOME/huggingface/hub</c>,
    /// else <c>~/.cache/huggingface/hub</c>.
    /// </summary>
    public string? CacheDirectory { get; init; }

    /// <summary>
    /// The access token sent as <c>Authorization: Bearer</c> to the hub (never to the CDN it redirects to).
    /// Null: <c>HF_TOKEN</c>, else <c>HUGGING_FACE_HUB_TOKEN</c>, else the file <c>huggingface-cli login</c> writes
    /// (<c>HF_TOKEN_PATH</c>, default <c>$HF_HOME/token</c>). Empty: send no token.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>
    /// Use only the cache, never the network. Null: whether <c>HF_HUB_OFFLINE</c> (or <c>TRANSFORMERS_OFFLINE</c>)
    /// is 1, ON, YES or TRUE.
    /// </summary>
    public bool? Offline { get; init; }

    /// <summary>How many times an interrupted download is resumed before giving up. Default 5.</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>Wait before the first retry, doubled for each further one (capped at 8 s). Default 1 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait for a connection, for response headers, or for the next bytes of a download. Default 30 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for another process (e.g. huggingface-cli) downloading the same file. Default 10 min.</summary>
    public TimeSpan LockTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Where environment variables are read from; <see cref="Environment.GetEnvironmentVariable(string)"/> by default.</summary>
    public Func<string, string?> EnvironmentVariables { get; init; } = Environment.GetEnvironmentVariable;

    /// <summary>Settles every setting: explicit values first, then the environment, then huggingface_hub's defaults.</summary>
    internal HubSettings Resolve()
    {
        ArgumentOutOfRangeException.ThrowIfNegative(MaxRetries, nameof(MaxRetries));
        if (Timeout <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, "Timeout must be positive.");
        if (RetryDelay < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(RetryDelay), RetryDelay, "RetryDelay must not be negative.");

        string? Env(string name) => EnvironmentVariables(name) is { Length: > 0 } v ? v : null;

        string endpoint = (Endpoint ?? Env("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/');
        if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var endpointUri) || (endpointUri.Scheme != Uri.UriSchemeHttps && endpointUri.Scheme != Uri.UriSchemeHttp))
            throw new ArgumentException($"Hub endpoint '{endpoint}' (HubOptions.Endpoint or HF_ENDPOINT) is not an http(s) URL.", nameof(Endpoint));

        string home = HuggingFaceHome(EnvironmentVariables);
        string cache = CacheDirectory ?? Env("HF_HUB_CACHE") ?? Env("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(home, "hub");

        string? token = Token is not null
            ? CleanToken(Token)
            : CleanToken(Env("HF_TOKEN")) ?? CleanToken(Env("HUGGING_FACE_HUB_TOKEN")) ?? ReadTokenFile(ExpandUser(Env("HF_TOKEN_PATH") ?? Path.Combine(home, "token")));

        bool offline = Offline ?? (IsTrue(Env("HF_HUB_OFFLINE")) || IsTrue(Env("TRANSFORMERS_OFFLINE")));

        return new HubSettings(endpointUri, Path.GetFullPath(ExpandUser(cache)), token, offline, MaxRetries, RetryDelay, Timeout, LockTimeout);
    }

    /// <summary>huggingface_hub's HF_HOME: <c>HF_HOME</c>, else <c>$XDG_CACHE_HOME/huggingface</c>, else <c>~/.cache/huggingface</c>.</summary>
    /// <param name="environment">Where environment variables are read from; null: the process environment.</param>
    public static string HuggingFaceHome(Func<string, string?>? environment = null)
    {
        environment ??= Environment.GetEnvironmentVariable;
        string? Env(string name) => environment(name) is { Length: > 0 } v ? v : null;
        return ExpandUser(Env("HF_HOME") ?? Path.Combine(ExpandUser(Env("XDG_CACHE_HOME") ?? Path.Combine("~", ".cache")), "huggingface"));
    }

    // huggingface_hub's _is_true.
    private static bool IsTrue(string? value) => value?.Trim().ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static string? CleanToken(string? token)
    {
        string? t = token?.Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal).Trim();
        return string.IsNullOrEmpty(t) ? null : t;
    }

    private static string? ReadTokenFile(string path)
    {
        try { return File.Exists(path) ? CleanToken(File.ReadAllText(path)) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    private static string ExpandUser(string path)
    {
        if (path != "~" && !path.StartsWith("~/", StringComparison.Ordinal) && !path.StartsWith("~\\", StringComparison.Ordinal))
            return path;
        string user = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return path.Length == 1 ? user : Path.Combine(user, path[2..]);
    }
}

/// <summary>The settled hub settings of one resolve.</summary>
internal sealed record HubSettings(
    Uri Endpoint, string CacheDirectory, string? Token, bool Offline,
    int MaxRetries, TimeSpan RetryDelay, TimeSpan Timeout, TimeSpan LockTimeout);

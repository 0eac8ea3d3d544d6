namespace MLNetLlmClassifier.Hub;

/// <summary>What went wrong while getting a model from the Hugging Face hub.</summary>
public enum HubErrorKind
{
    /// <summary>The hub could not be reached (or <c>HF_HUB_OFFLINE</c> is set) and the cache does not have the model.</summary>
    Offline,
    /// <summary>The hub refused access (401/403): a gated or private model without a token, or a token without access.</summary>
    Unauthorized,
    /// <summary>The repository, revision or a needed file does not exist (or holds no safetensors weights).</summary>
    NotFound,
    /// <summary>The disk holding the cache is full.</summary>
    DiskFull,
    /// <summary>A downloaded file does not have the size or hash the hub reports; the bad download was deleted.</summary>
    IntegrityCheckFailed,
    /// <summary>A download kept failing after its retries, or the server answered with an error or unusable headers.</summary>
    DownloadFailed,
    /// <summary>Another process held the download lock of a file for too long.</summary>
    LockTimeout,
}

/// <summary>A failure to resolve a model id on the Hugging Face hub, with a message that says what to do about it.</summary>
public sealed class HubException : Exception
{
    /// <summary>Creates the exception.</summary>
    public HubException(HubErrorKind kind, string repoId, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        RepoId = repoId;
    }

    /// <summary>The kind of failure.</summary>
    public HubErrorKind Kind { get; }

    /// <summary>The repository being resolved, e.g. <c>Qwen/Qwen3-0.6B</c>.</summary>
    public string RepoId { get; }
}

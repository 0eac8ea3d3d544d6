using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace MLNetLlmClassifier.Hub;

/// <summary>
/// A model on the Hugging Face hub: <c>owner/name</c>, optionally followed by <c>@revision</c>
/// (a branch, a tag or a commit hash; <c>main</c> when left out), e.g. <c>Qwen/Qwen3-0.6B</c>
/// or <c>google-bert/bert-base-cased@main</c>.
/// </summary>
public sealed partial record HubModelId
{
    /// <summary>The revision used when none is given.</summary>
    public const string DefaultRevision = "main";

    private HubModelId(string repoId, string revision)
    {
        RepoId = repoId;
        Revision = revision;
    }

    /// <summary>The repository, <c>owner/name</c>.</summary>
    public string RepoId { get; }

    /// <summary>The branch, tag or commit hash.</summary>
    public string Revision { get; }

    /// <summary>Whether <see cref="Revision"/> is a full commit hash (40 lowercase hex digits).</summary>
    public bool RevisionIsCommit => CommitHash().IsMatch(Revision);

    /// <summary>The repository's folder in the hub cache, as huggingface_hub names it: <c>models--owner--name</c>.</summary>
    public string CacheFolderName => "models--" + RepoId.Replace("/", "--", StringComparison.Ordinal);

    /// <summary>Parses <c>owner/name[@revision]</c>.</summary>
    /// <exception cref="FormatException">The text is not shaped like a hub id; the message says why.</exception>
    public static HubModelId Parse(string text) =>
        TryParse(text, out var id, out var error) ? id : throw new FormatException($"'{text}' is not a Hugging Face hub id: {error}.");

    /// <summary>Parses <c>owner/name[@revision]</c>; on failure <paramref name="error"/> says why.</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out HubModelId? id, [NotNullWhen(false)] out string? error)
    {
        id = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "it is empty";
            return false;
        }
        int at = text.IndexOf('@', StringComparison.Ordinal);
        string repo = at < 0 ? text : text[..at];
        string revision = at < 0 ? DefaultRevision : text[(at + 1)..];

        string[] parts = repo.Split('/');
        if (parts.Length != 2)
        {
            error = parts.Length == 1
                ? "a hub id has an owner and a name, like google-bert/bert-base-cased"
                : "a hub id has exactly one '/', between owner and name";
            return false;
        }
        // huggingface_hub's validate_repo_id: word characters, '-' and '.', starting and ending with a word character,
        // no "--" or ".." (the cache folder name joins owner and name with "--"), at most 96 characters.
        foreach (string part in parts)
        {
            if (!RepoPart().IsMatch(part) || part.Contains("--", StringComparison.Ordinal) || part.Contains("..", StringComparison.Ordinal))
            {
                error = $"'{part}' is not a valid owner or name (letters, digits, '_', '-' and '.', starting and ending with a letter, digit or '_', no '--' or '..')";
                return false;
            }
        }
        if (repo.Length > 96)
        {
            error = "a repository id has at most 96 characters";
            return false;
        }
        // Revisions are branch or tag names (which may hold '/', e.g. refs/pr/1) or commit hashes. They become paths under
        // refs/ in the cache, so nothing that could leave that folder is accepted.
        if (!RevisionChars().IsMatch(revision) || revision.Split('/').Any(s => s is "" or "." or ".."))
        {
            error = $"revision '{revision}' is not a branch, tag or commit hash (letters, digits, '_', '-', '.', and '/' between parts)";
            return false;
        }
        id = new HubModelId(repo, revision);
        error = null;
        return true;
    }

    /// <summary><c>owner/name</c>, with <c>@revision</c> unless it is <c>main</c>.</summary>
    public override string ToString() => Revision == DefaultRevision ? RepoId : $"{RepoId}@{Revision}";

    [GeneratedRegex("^[0-9a-f]{40}$")]
    internal static partial Regex CommitHash();

    [GeneratedRegex(@"^[A-Za-z0-9_](?:[A-Za-z0-9_.\-]*[A-Za-z0-9_])?$")]
    private static partial Regex RepoPart();

    [GeneratedRegex(@"^[A-Za-z0-9_.\-/]+$")]
    private static partial Regex RevisionChars();
}

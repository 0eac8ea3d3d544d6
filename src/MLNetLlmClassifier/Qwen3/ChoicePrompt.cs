using System.Globalization;
using System.Text.Json.Nodes;
using MLNetLlmClassifier.Families;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// The multiple-choice prompt of the prompted decoder classifier, rendered in the Qwen3 chat template in non-thinking mode,
/// and its tokenisation with truncation of the text only.
/// </summary>
/// <remarks>
/// <para>Rendering (the user message is the template with <c>{text}</c> and <c>{options}</c> filled in; the options block is one line
/// <c>MARKER. display name</c> per class, in key order):</para>
/// <code>
/// &lt;|im_start|&gt;user\n{user message}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n&lt;think&gt;\n\n&lt;/think&gt;\n\n
/// </code>
/// followed by the answer: the class's marker and, in training, <c>&lt;|im_end|&gt;</c>.
/// <para>Tokenisation: when the whole prompt fits, it is tokenised in one piece, exactly as Hugging Face tokenises the rendered
/// string (so ids equal <c>tokenizer(prompt)</c>). Otherwise the part before the text, the text and the part after it are
/// tokenised separately, the text's tokens are cut on the <see cref="TruncationSide"/> side to fit, and the three are
/// concatenated: the instruction, the options and the answer are never cut.</para>
/// <para>Thread-safe (immutable).</para>
/// </remarks>
internal sealed class ChoicePrompt
{
    public const string TextPlaceholder = "{text}";
    public const string OptionsPlaceholder = "{options}";
    /// <summary>The chat template's opening of the user turn.</summary>
    public const string UserTurnStart = "<|im_start|>user\n";
    /// <summary>End of the user turn, start of the assistant turn, and the empty think block of Qwen3's non-thinking mode
    /// (what <c>apply_chat_template(..., add_generation_prompt=True, enable_thinking=False)</c> appends).</summary>
    public const string AssistantTurnStart = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
    /// <summary>Ends the assistant's answer in the training data (Hugging Face SFT).</summary>
    public const string EndOfTurn = "<|im_end|>";

    private readonly Qwen3Tokenizer _tokenizer;
    private readonly int[] _prefixIds, _suffixIds;

    private ChoicePrompt(Qwen3Tokenizer tokenizer, string userTemplate, IReadOnlyList<string> markers, IReadOnlyList<string> displayNames,
        string prefix, string suffix, int[][] markerIds, int endOfTurnId, int maxLength, TruncationSide truncation)
    {
        _tokenizer = tokenizer;
        UserTemplate = userTemplate;
        Markers = markers;
        DisplayNames = displayNames;
        Prefix = prefix;
        Suffix = suffix;
        MarkerIds = markerIds;
        EndOfTurnId = endOfTurnId;
        MaxLength = maxLength;
        Truncation = truncation;
        _prefixIds = tokenizer.Encode(prefix);
        _suffixIds = tokenizer.Encode(suffix);
        FirstTokenIds = markerIds.Select(m => m[0]).ToArray();
        AnswerLength = markerIds.Max(m => m.Length) + 1;
        MaxPromptLength = maxLength - AnswerLength;
    }

    /// <summary>The user message template, with one <c>{text}</c> and one <c>{options}</c>.</summary>
    public string UserTemplate { get; }
    /// <summary>The answer marker of each class, in key order.</summary>
    public IReadOnlyList<string> Markers { get; }
    /// <summary>The name of each class shown in the options block, in key order.</summary>
    public IReadOnlyList<string> DisplayNames { get; }
    /// <summary>Everything before the text, chat tokens included.</summary>
    public string Prefix { get; }
    /// <summary>Everything after the text, up to the answer.</summary>
    public string Suffix { get; }
    /// <summary>Token ids of each marker.</summary>
    public int[][] MarkerIds { get; }
    /// <summary>First token id of each marker (distinct): what the answer position's logits are read at.</summary>
    public int[] FirstTokenIds { get; }
    /// <summary>Whether every marker is a single token (then one forward pass per batch scores every option).</summary>
    public bool SingleTokenMarkers => MarkerIds.All(m => m.Length == 1);
    /// <summary>Id of <c>&lt;|im_end|&gt;</c>.</summary>
    public int EndOfTurnId { get; }
    /// <summary>Maximum tokens of prompt plus answer.</summary>
    public int MaxLength { get; }
    /// <summary>Tokens reserved for the answer: the longest marker plus <c>&lt;|im_end|&gt;</c>.</summary>
    public int AnswerLength { get; }
    /// <summary>Maximum tokens of the prompt alone (<see cref="MaxLength"/> − <see cref="AnswerLength"/>).</summary>
    public int MaxPromptLength { get; }
    /// <summary>Which end of an over-long text is cut.</summary>
    public TruncationSide Truncation { get; }
    /// <summary>Token ids of <see cref="Prefix"/> tokenised alone: what every prompt starts with, up to a possible merge with the text's first characters.</summary>
    public IReadOnlyList<int> PrefixIds => _prefixIds;
    /// <summary>Tokens of the prompt without the text (tokenised as separate pieces).</summary>
    public int FixedPromptLength => _prefixIds.Length + _suffixIds.Length;

    /// <summary>The full prompt for <paramref name="text"/>, as a string (what Hugging Face's chat template renders).</summary>
    public string Render(string text) => Prefix + text + Suffix;

    /// <summary>Prompt token ids for <paramref name="text"/> (the answer is not included); see the class remarks.</summary>
    public (int[] Ids, bool Truncated) Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var whole = _tokenizer.Encode(Render(text));
        if (whole.Length <= MaxPromptLength) return (whole, false);

        var textIds = _tokenizer.Encode(text);
        int keep = Math.Min(textIds.Length, MaxPromptLength - FixedPromptLength);
        var ids = new int[_prefixIds.Length + keep + _suffixIds.Length];
        _prefixIds.CopyTo(ids, 0);
        Array.Copy(textIds, Truncation == TruncationSide.Left ? textIds.Length - keep : 0, ids, _prefixIds.Length, keep);
        _suffixIds.CopyTo(ids, _prefixIds.Length + keep);
        return (ids, keep < textIds.Length);
    }

    /// <summary>
    /// Builds the prompt for the classes' <paramref name="markers"/> and <paramref name="displayNames"/> and checks it against the
    /// tokenizer: markers must keep their tokens after the chat template's "\n\n", their first tokens must be distinct, and the prompt
    /// without the text plus the answer must fit in <paramref name="maxLength"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">Ambiguous or ill-formed markers, or a prompt that does not fit; ParamName is the option at fault.</exception>
    public static ChoicePrompt Create(Qwen3Tokenizer tokenizer, string userTemplate, IReadOnlyList<string> markers,
        IReadOnlyList<string> displayNames, int maxLength, TruncationSide truncation)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        CheckTemplate(userTemplate, "PromptTemplate");
        if (markers.Count != displayNames.Count)
            throw new ArgumentOutOfRangeException("OptionMarkers", markers.Count, $"{markers.Count} option markers for {displayNames.Count} classes.");
        if (markers.Count < 2) throw new ArgumentOutOfRangeException("OptionMarkers", markers.Count, $"A multiple-choice prompt needs at least two options, got {markers.Count}.");
        for (int i = 0; i < markers.Count; i++)
        {
            CheckMarkerText(markers[i], $"OptionMarkers[{i}]");
            CheckDisplayName(displayNames[i], $"LabelDisplayNames (class {i})");
        }
        int endOfTurn = tokenizer.TryTokenToId(EndOfTurn)
            ?? throw new InvalidDataException($"The tokenizer has no {EndOfTurn} token: the prompted decoder needs a Qwen chat tokenizer.");

        var markerIds = markers.Select(m => MarkerTokens(tokenizer, m)).ToArray();
        var firstOwner = new Dictionary<int, int>();
        for (int i = 0; i < markers.Count; i++)
        {
            if (firstOwner.TryGetValue(markerIds[i][0], out int j))
                throw new ArgumentOutOfRangeException("OptionMarkers", markers[i],
                    $"Option markers '{markers[j]}' (class {j}) and '{markers[i]}' (class {i}) both start with the token " +
                    $"'{tokenizer.Decode([markerIds[i][0]])}' (id {markerIds[i][0]}): the answer's first token could not tell them apart. " +
                    "Give OptionMarkers whose first tokens differ (e.g. single letters).");
            firstOwner[markerIds[i][0]] = i;
        }

        string options = string.Join("\n", markers.Select((m, i) => $"{m}. {displayNames[i]}"));
        int at = userTemplate.IndexOf(TextPlaceholder, StringComparison.Ordinal);
        // Split at {text} first, then fill {options}: a display name or text containing "{text}" stays literal.
        string before = userTemplate[..at].Replace(OptionsPlaceholder, options, StringComparison.Ordinal);
        string after = userTemplate[(at + TextPlaceholder.Length)..].Replace(OptionsPlaceholder, options, StringComparison.Ordinal);
        var prompt = new ChoicePrompt(tokenizer, userTemplate, markers.ToArray(), displayNames.ToArray(),
            UserTurnStart + before, after + AssistantTurnStart, markerIds, endOfTurn, maxLength, truncation);
        if (prompt.FixedPromptLength + prompt.AnswerLength > maxLength)
            throw new ArgumentOutOfRangeException("MaxSequenceLength", maxLength,
                $"Option MaxSequenceLength = {maxLength} is too small for the prompt: without the text it takes {prompt.FixedPromptLength} tokens " +
                $"(instruction, {markers.Count} options, chat template) plus {prompt.AnswerLength} for the answer (marker and {EndOfTurn}), " +
                $"{prompt.FixedPromptLength + prompt.AnswerLength} in all. Raise MaxSequenceLength or shorten the prompt or the display names.");
        return prompt;
    }

    // A marker is tokenised alone; it must give the same tokens right after the chat template's "</think>\n\n", where it is answered.
    private static int[] MarkerTokens(Qwen3Tokenizer tokenizer, string marker)
    {
        var ids = tokenizer.Encode(marker);
        var newlines = tokenizer.Encode("\n\n");
        var inContext = tokenizer.Encode("\n\n" + marker);
        if (!inContext.AsSpan().SequenceEqual([.. newlines, .. ids]))
            throw new ArgumentOutOfRangeException("OptionMarkers", marker, $"Option marker '{marker}' is tokenised differently after the prompt's final newlines; use markers that start with a letter or digit.");
        return ids;
    }

    /// <summary>The user message template of the default prompt with the given instruction and question.</summary>
    public static string TemplateFrom(string instruction, string question) =>
        $"{instruction}\n\nArticle:\n{TextPlaceholder}\n\nQuestion: {question}\n{OptionsPlaceholder}\n\nAnswer:/no_think";

    /// <summary>
    /// The default markers for <paramref name="count"/> classes: A, B, …, Z, then two-letter markers in spreadsheet-column order
    /// (AA, AB, …, AZ, BA, …, ZZ) keeping only those the tokenizer reads as one token. With Qwen3's vocabulary the first 42 pairs
    /// (AA … BP) are single tokens, so up to 68 classes get exactly the spreadsheet column names; 552 of the 676 pairs are single
    /// tokens, for 578 classes at most.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">More classes than such markers.</exception>
    public static IReadOnlyList<string> DefaultMarkers(int count, Qwen3Tokenizer tokenizer)
    {
        var markers = new List<string>(count);
        foreach (string candidate in MarkerCandidates())
        {
            if (markers.Count == count) break;
            if (tokenizer.Encode(candidate).Length == 1) markers.Add(candidate);
        }
        if (markers.Count < count)
            throw new ArgumentOutOfRangeException("OptionMarkers", count,
                $"{count} classes need more default option markers than this tokenizer has single-token letter pairs ({markers.Count}): give OptionMarkers.");
        return markers;
    }

    private static IEnumerable<string> MarkerCandidates()
    {
        for (char a = 'A'; a <= 'Z'; a++) yield return a.ToString();
        for (char a = 'A'; a <= 'Z'; a++)
            for (char b = 'A'; b <= 'Z'; b++)
                yield return string.Concat(a, b);
    }

    /// <summary>Checks a user template: exactly one <c>{text}</c> and one <c>{options}</c>, and no chat-template tokens.</summary>
    /// <exception cref="ArgumentOutOfRangeException">ParamName is <paramref name="option"/>.</exception>
    public static void CheckTemplate(string? template, string option)
    {
        if (string.IsNullOrWhiteSpace(template))
            throw new ArgumentOutOfRangeException(option, template, $"Option {option} is empty: give the user message with {TextPlaceholder} and {OptionsPlaceholder}.");
        int texts = Count(template, TextPlaceholder), options = Count(template, OptionsPlaceholder);
        if (texts != 1)
            throw new ArgumentOutOfRangeException(option, template, $"Option {option} must contain the placeholder {TextPlaceholder} exactly once (found {texts}): it is where the text goes.");
        if (options != 1)
            throw new ArgumentOutOfRangeException(option, template, $"Option {option} must contain the placeholder {OptionsPlaceholder} exactly once (found {options}): it is where the answer options are listed.");
        if (template.Contains("<|im_start|>", StringComparison.Ordinal) || template.Contains("<|im_end|>", StringComparison.Ordinal))
            throw new ArgumentOutOfRangeException(option, template, $"Option {option} contains chat-template tokens (<|im_start|>, <|im_end|>): give only the user message; the chat template is added around it.");
    }

    /// <summary>Checks a marker string (non-empty, no surrounding whitespace, no line breaks).</summary>
    public static void CheckMarkerText(string? marker, string option)
    {
        if (string.IsNullOrEmpty(marker) || char.IsWhiteSpace(marker[0]) || char.IsWhiteSpace(marker[^1]) || marker.Any(char.IsControl))
            throw new ArgumentOutOfRangeException(option, marker, $"Option {option} = '{marker}' is not a valid answer marker: give a non-empty string without surrounding whitespace or line breaks (e.g. \"A\").");
    }

    /// <summary>Checks a display name (non-empty, one line).</summary>
    public static void CheckDisplayName(string? name, string option)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Contains('\n') || name.Contains('\r'))
            throw new ArgumentOutOfRangeException(option, name, $"Option {option} = '{name}' is not a valid display name: give non-empty text on one line.");
    }

    private static int Count(string s, string what)
    {
        int n = 0;
        for (int i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + what.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    /// <summary>
    /// Writes the prompt into a classifier's settings (mlnet-classifier.json), for <see cref="FromSettings"/> and for people and other
    /// tools: <c>user_template</c>, <c>option_markers</c>, <c>display_names</c>, <c>option_token_ids</c> (each marker's token ids),
    /// <c>prompt</c> (the exact text before the answer, <c>{text}</c> standing for the row's text), <c>max_sequence_length</c>,
    /// <c>max_prompt_tokens</c> (the most tokens of the prompt with its text: a longer one has its text cut) and <c>truncation</c>.
    /// </summary>
    public void WriteSettings(JsonObject settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        static JsonArray Strings(IEnumerable<string> items) => new(items.Select(n => (JsonNode)n).ToArray());
        settings["display_names"] = Strings(DisplayNames);
        settings["option_markers"] = Strings(Markers);
        settings["option_token_ids"] = new JsonArray(MarkerIds.Select(ids => (JsonNode)new JsonArray(ids.Select(i => (JsonNode)i).ToArray())).ToArray());
        settings["user_template"] = UserTemplate;
        settings["prompt"] = Render(TextPlaceholder);
        settings["max_sequence_length"] = MaxLength;
        settings["max_prompt_tokens"] = MaxPromptLength;
        settings["truncation"] = Truncation.ToString();
    }

    /// <summary>Whether a classifier's settings hold a prompt written by <see cref="WriteSettings"/>.</summary>
    public static bool InSettings(JsonObject settings) => settings.ContainsKey("user_template");

    /// <summary>The prompt of a classifier's settings (<see cref="WriteSettings"/>), rebuilt and checked against <paramref name="tokenizer"/>.</summary>
    /// <exception cref="SettingsFieldException">A field is missing or invalid.</exception>
    public static ChoicePrompt FromSettings(Qwen3Tokenizer tokenizer, JsonObject settings)
    {
        var (template, markers, displayNames, maxLength, truncation) = ReadSettings(settings);
        return Create(tokenizer, template, markers, displayNames, maxLength, truncation);
    }

    /// <summary>The fields of <see cref="WriteSettings"/> that define the prompt, read by the typed readers of <see cref="Families.ClassifierSettings"/>.</summary>
    /// <exception cref="Families.SettingsFieldException">A field is missing or invalid (the message names it).</exception>
    public static (string Template, string[] Markers, string[] DisplayNames, int MaxLength, TruncationSide Truncation) ReadSettings(JsonObject settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return (settings.RequiredString("user_template"), settings.RequiredStrings("option_markers"), settings.RequiredStrings("display_names"),
            settings.RequiredInt("max_sequence_length", 1, int.MaxValue), settings.Enum<TruncationSide>("truncation"));
    }

    /// <summary>Short description for logs.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Markers.Count} options ({string.Join(", ", Markers.Take(6))}{(Markers.Count > 6 ? ", ..." : "")}), {FixedPromptLength} prompt tokens without the text, {AnswerLength} answer tokens");
}

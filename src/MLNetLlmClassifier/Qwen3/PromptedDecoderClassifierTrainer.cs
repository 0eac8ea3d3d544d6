using Microsoft.ML;
using Microsoft.ML.Runtime;
using MLNetLlmClassifier.Configuration;
using MLNetLlmClassifier.MLNet;
using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Qwen3;

/// <summary>
/// Fine-tunes a Qwen3 causal language model (any Hugging Face <c>Qwen3ForCausalLM</c> folder) to classify text by answering a
/// multiple-choice question: the text and the classes go into a prompt, the model answers with the marker of a class
/// (<c>A</c>, <c>B</c>, …), and the class scores are the answers' probabilities, read in one forward pass without generation.
/// Create it with <c>mlContext.MulticlassClassification.Trainers.PromptedDecoderClassifier(...)</c>.
/// </summary>
/// <remarks>
/// <list type="table">
/// <listheader><term>Column</term><description>Type</description></listheader>
/// <item><term>Label (input)</term><description>Key (UInt32): use MapValueToKey. The classes are the key values, in key order; rows with a missing key are skipped.</description></item>
/// <item><term>Text (input)</term><description>Text. A single text: there is no second text column (put both parts in one text, or in a <see cref="Options.PromptTemplate"/>). Empty text still gets a prediction.</description></item>
/// <item><term>PredictedLabel (output)</term><description>Key (UInt32) with the label's KeyValues.</description></item>
/// <item><term>Score (output)</term><description>Vector of Single: the probability of each class, i.e. of its answer, renormalised over the options; SlotNames = class names.</description></item>
/// </list>
/// <para><b>The prompt.</b> The user message (default: <see cref="Options.Instruction"/>, the text, <see cref="Options.Question"/>,
/// one line <c>MARKER. name</c> per class, and <c>Answer:/no_think</c>) is rendered in the Qwen3 chat template in non-thinking
/// mode, <c>&lt;|im_start|&gt;user\n{message}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n&lt;think&gt;\n\n&lt;/think&gt;\n\n</c>, and the
/// answer is the class's marker followed by <c>&lt;|im_end|&gt;</c>. With AG News and the default options the message reads:</para>
/// <code>
/// Please read the following news article and determine its category from the options below.
///
/// Article:
/// {text}
///
/// Question: What is the most appropriate category for this news article?
/// A. World
/// B. Sports
/// C. Business
/// D. Science/Technology
///
/// Answer:/no_think
/// </code>
/// (with <see cref="Options.LabelDisplayNames"/> mapping Sci/Tech to Science/Technology). For other data, set the instruction, question,
/// display names or the whole template: on the command line <c>--instruction</c>, <c>--question</c>, <c>--label-display-names 1=World,2=Sports</c>,
/// <c>--prompt-template</c> (or <c>--set qwen3-prompted.Instruction=...</c>) in <c>train</c>, <c>compare</c> and <c>sweep</c> alike.
/// <para><b>Tokenisation and length.</b> A prompt that fits is tokenised in one piece, giving the ids Hugging Face's tokenizer gives
/// for the rendered string (chat-template tokens such as <c>&lt;|im_end|&gt;</c> written inside a text are read as those tokens, as in
/// Hugging Face). <see cref="TransformerTrainerOptions.MaxSequenceLength"/> counts the prompt plus the answer (longest marker and
/// <c>&lt;|im_end|&gt;</c>). When a prompt is too long, the parts before the text, the text and the part after it are tokenised separately
/// and only the text's tokens are cut (on the <see cref="TransformerTrainerOptions.Truncation"/> side): the instruction, the options
/// and the answer are never cut. If they alone exceed the maximum, Fit fails with an error giving both numbers.</para>
/// <para><b>Training</b> is full-parameter supervised fine-tuning (every weight, embeddings included, as Hugging Face SFT) with the
/// loss on the answer tokens only: the marker's tokens and the <c>&lt;|im_end|&gt;</c> that ends the answer in the Hugging Face training data
/// (so an exported model also stops after answering), each a cross-entropy over the whole vocabulary at its position, averaged per
/// row; prompt tokens are masked out and logits are computed only at the answer positions.
/// <see cref="TransformerTrainerOptions.ClassWeighting"/> weights each row by its class's weight (weighted mean over the batch);
/// <see cref="TransformerTrainerOptions.LabelSmoothing"/> ε moves ε of the first answer token's target onto the C option markers
/// equally (ε/C each), rather than over the 150k-token vocabulary.</para>
/// <para><b>Scoring</b>: one forward pass per batch. With single-token markers (the default scheme), the scores are the softmax over
/// the option tokens' logits at the answer position, which ranks the options as their log-likelihood (lowest perplexity) does.
/// Multi-token markers (possible with <see cref="Options.OptionMarkers"/>) are scored by their summed token log-probabilities under
/// teacher forcing, which needs one extra sequence per (row, multi-token option): up to 1 + C times the work.</para>
/// <para><b>Saving.</b> The fitted transformer saves through <c>mlContext.Model.Save</c> (in bfloat16 when trained in bfloat16), and
/// <see cref="TextClassifierTransformer.ExportHuggingFaceFolder"/> writes the fine-tuned model as a standard Hugging Face folder
/// (config.json, model.safetensors, tokenizer files with the chat template) plus mlnet-classifier.json holding the prompt and markers.</para>
/// </remarks>
public sealed class PromptedDecoderClassifierTrainer : IEstimator<TextClassifierTransformer>
{
    /// <summary>
    /// Options of <see cref="PromptedDecoderClassifierTrainer"/>. Defaults are those of the reference experiment (Qwen3-0.6B on
    /// AG News): learning rate 1.2e-5, batch 12 with 8 accumulation steps (effective batch 96), warmup 1% of the steps, one epoch,
    /// cosine decay, <see cref="Precision.Auto"/> (bfloat16 with fp32 master weights on CUDA and on CPUs with native bfloat16, float32 elsewhere),
    /// MaxSequenceLength 512. Every option is checked when the estimator is made, and the prompt once the classes are known at
    /// the start of Fit (before any training); a bad value is an <see cref="ArgumentOutOfRangeException"/> naming the option.
    /// </summary>
    public sealed class Options : TransformerTrainerOptions
    {
        /// <summary>The reference experiment's instruction.</summary>
        public const string DefaultInstruction = "Please read the following news article and determine its category from the options below.";

        /// <summary>The reference experiment's question.</summary>
        public const string DefaultQuestion = "What is the most appropriate category for this news article?";

        /// <summary>The reference experiment's user message template: <c>"{Instruction}\n\nArticle:\n{text}\n\nQuestion: {Question}\n{options}\n\nAnswer:/no_think"</c>
        /// with the default instruction and question.</summary>
        public static string DefaultTemplate { get; } = ChoicePrompt.TemplateFrom(DefaultInstruction, DefaultQuestion);

        /// <summary>Creates options with the reference experiment's defaults.</summary>
        public Options()
        {
            LearningRate = 1.2e-5;
            BatchSize = 12;
            GradientAccumulationSteps = 8;
            WarmupRatio = 0.01;
            NumberOfEpochs = 1;
            Schedule = LearningRateSchedule.Cosine;
            Precision = Precision.Auto;
            MaxSequenceLength = 512;
        }

        /// <summary>The text column. Default "Text". One text only: the decoder has no sentence-pair input.</summary>
        public string TextColumnName { get; set; } = "Text";

        /// <summary>
        /// First paragraph of the default user message. Default <see cref="DefaultInstruction"/>. Ignored when
        /// <see cref="PromptTemplate"/> is set (changing both is an error). Must not contain <c>{text}</c> or <c>{options}</c>.
        /// </summary>
        [CommandLineAlias("--instruction")]
        public string Instruction { get; set; } = DefaultInstruction;

        /// <summary>
        /// The question before the options in the default user message (after "Question: "). Default <see cref="DefaultQuestion"/>.
        /// Ignored when <see cref="PromptTemplate"/> is set (changing both is an error). Must not contain <c>{text}</c> or <c>{options}</c>.
        /// </summary>
        [CommandLineAlias("--question")]
        public string Question { get; set; } = DefaultQuestion;

        /// <summary>
        /// The whole user message, with the placeholders <c>{text}</c> (the row's text) and <c>{options}</c> (one line
        /// <c>MARKER. display name</c> per class), each exactly once; default null, meaning
        /// <c>"{Instruction}\n\nArticle:\n{text}\n\nQuestion: {Question}\n{options}\n\nAnswer:/no_think"</c>. Give only the message:
        /// the chat template (<c>&lt;|im_start|&gt;user</c> … <c>&lt;think&gt;\n\n&lt;/think&gt;\n\n</c>) is added around it. End it with
        /// <c>/no_think</c> to keep Qwen3's non-thinking convention.
        /// </summary>
        [CommandLineAlias("--prompt-template")]
        public string? PromptTemplate { get; set; }

        /// <summary>
        /// The name shown in the options for a class, by key value (e.g. <c>{ ["Sci/Tech"] = "Science/Technology" }</c>); classes not
        /// in the map show their key value. Default null (every class shows its key value). A key that is not a class is an error at Fit.
        /// As text (a flag or <c>--set</c>): <c>1=World,2=Sports</c> or a JSON object.
        /// </summary>
        [CommandLineAlias("--label-display-names")]
        public IReadOnlyDictionary<string, string>? LabelDisplayNames { get; set; }

        /// <summary>
        /// The answer marker of each class in key order, or null (the default) for the built-in scheme:
        /// <c>A</c>, <c>B</c>, …, <c>Z</c> for the first 26 classes, then two-letter markers in spreadsheet-column order
        /// (<c>AA</c>, <c>AB</c>, …, <c>AZ</c>, <c>BA</c>, …) keeping only those the tokenizer reads as a single token. With the Qwen3
        /// vocabulary the markers of up to 68 classes are exactly A … Z, AA … BP (all single tokens); beyond that a few pairs
        /// (BQ, BZ, CJ, …) are skipped, and 578 classes is the most the scheme serves. Every default marker is one distinct token, so
        /// scoring costs one forward pass. Markers given here may be several tokens, but no two may start with the same token
        /// (checked at Fit: the first answer token must tell the classes apart), they must not start or end with whitespace, and
        /// extra markers beyond the class count are ignored.
        /// </summary>
        [CommandLineAlias("--option-markers")]
        public IReadOnlyList<string>? OptionMarkers { get; set; }

        /// <summary>
        /// What the training loss is a cross-entropy over. Default <see cref="Qwen3.AnswerLoss.FullVocabulary"/>: each answer token
        /// (the marker's tokens, then <c>&lt;|im_end|&gt;</c>) against the whole vocabulary, the supervised fine-tuning objective of
        /// the reference experiment, so that the fine-tuned model stays a language model that answers in the prompt's format.
        /// <see cref="Qwen3.AnswerLoss.Options"/>: a C-way cross-entropy over the option markers' first tokens at the answer position,
        /// the very scores that classification reads; far cheaper with a 151,936-token vocabulary (no full-vocabulary projection or
        /// softmax, and gradients reach only the option rows of the LM head), and the objective of the from-scratch preset.
        /// </summary>
        public AnswerLoss AnswerLoss { get; set; } = AnswerLoss.FullVocabulary;

        /// <summary>
        /// Compute the tokens that every prompt starts with (the chat header and the instruction before the text) once instead of
        /// once per row: their keys and values are computed for one row and every row of the batch attends to them, running only
        /// its own tokens; at scoring the prompt's beginning is kept across batches and calls (one-row PredictionEngine calls
        /// included) until the weights change. Exact: the scores and the loss are those of the whole prompts, to float rounding.
        /// Applies to scoring and training alike when the batch's rows share at least 8 tokens, except in training with
        /// <see cref="TransformerTrainerOptions.GradientCheckpointing"/>. Default true.
        /// </summary>
        [CommandLineAlias("--reuse-prompt-prefix")]
        public bool ReusePromptPrefix { get; set; } = true;

        /// <summary>The user message template this configuration gives (<see cref="PromptTemplate"/>, or the default built from
        /// <see cref="Instruction"/> and <see cref="Question"/>).</summary>
        public string UserTemplate => PromptTemplate ?? ChoicePrompt.TemplateFrom(Instruction, Question);

        /// <inheritdoc/>
        public override void Validate()
        {
            base.Validate();
            if (string.IsNullOrWhiteSpace(TextColumnName))
                throw new ArgumentOutOfRangeException(nameof(TextColumnName), TextColumnName, $"Option {nameof(TextColumnName)} is invalid: give a column name.");
            foreach (var (name, value) in new[] { (nameof(Instruction), Instruction), (nameof(Question), Question) })
            {
                if (string.IsNullOrWhiteSpace(value))
                    throw new ArgumentOutOfRangeException(name, value, $"Option {name} is empty: give the text (or a whole {nameof(PromptTemplate)}).");
                if (value.Contains(ChoicePrompt.TextPlaceholder, StringComparison.Ordinal) || value.Contains(ChoicePrompt.OptionsPlaceholder, StringComparison.Ordinal))
                    throw new ArgumentOutOfRangeException(name, value, $"Option {name} must not contain {ChoicePrompt.TextPlaceholder} or {ChoicePrompt.OptionsPlaceholder}: to place them yourself, give a {nameof(PromptTemplate)}.");
            }
            if (PromptTemplate is not null)
            {
                ChoicePrompt.CheckTemplate(PromptTemplate, nameof(PromptTemplate));
                if (Instruction != DefaultInstruction || Question != DefaultQuestion)
                    throw new ArgumentOutOfRangeException(nameof(PromptTemplate), PromptTemplate,
                        $"Option {nameof(PromptTemplate)} replaces the whole user message, so {nameof(Instruction)} and {nameof(Question)} would be ignored: set either the template or those two.");
            }
            if (LabelDisplayNames is not null)
                foreach (var (label, shown) in LabelDisplayNames)
                    ChoicePrompt.CheckDisplayName(shown, $"{nameof(LabelDisplayNames)}[\"{label}\"]");
            if (OptionMarkers is not null)
            {
                if (OptionMarkers.Count < 2)
                    throw new ArgumentOutOfRangeException(nameof(OptionMarkers), OptionMarkers.Count, $"Option {nameof(OptionMarkers)} needs at least two markers (one per class), got {OptionMarkers.Count}.");
                for (int i = 0; i < OptionMarkers.Count; i++)
                    ChoicePrompt.CheckMarkerText(OptionMarkers[i], $"{nameof(OptionMarkers)}[{i}]");
                var repeated = OptionMarkers.GroupBy(m => m, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
                if (repeated is not null)
                    throw new ArgumentOutOfRangeException(nameof(OptionMarkers), repeated.Key, $"Option {nameof(OptionMarkers)} lists '{repeated.Key}' more than once: markers must be distinct.");
            }
        }

        /// <summary>The display name of each class (key order): <see cref="LabelDisplayNames"/> or the class name itself.</summary>
        /// <exception cref="ArgumentOutOfRangeException">A key of <see cref="LabelDisplayNames"/> is not a class.</exception>
        internal IReadOnlyList<string> DisplayNames(IReadOnlyList<string> classNames)
        {
            if (LabelDisplayNames is null) return classNames;
            var unknown = LabelDisplayNames.Keys.Where(k => !classNames.Contains(k)).ToList();
            if (unknown.Count > 0)
                throw new ArgumentOutOfRangeException(nameof(LabelDisplayNames), string.Join(", ", unknown),
                    $"Option {nameof(LabelDisplayNames)} names label(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))} that are not classes of the label column (classes: {string.Join(", ", classNames)}).");
            return classNames.Select(c => LabelDisplayNames.TryGetValue(c, out var shown) ? shown : c).ToArray();
        }
    }

    private readonly IHostEnvironment _env;
    private readonly Options _options;

    internal PromptedDecoderClassifierTrainer(IHostEnvironment env, Options options)
    {
        _env = env ?? throw new ArgumentNullException(nameof(env));
        _options = options ?? throw new ArgumentNullException(nameof(options));
        MLNetLlmClassifierRegistration.EnsureRegistered(env);
        options.Validate();
    }

    /// <summary>The options this trainer was made with.</summary>
    public Options TrainerOptions => _options;

    private ClassifierColumns Columns => new(_options.TextColumnName, null, _options.ScoreColumnName, _options.PredictedLabelColumnName);

    /// <inheritdoc/>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) =>
        ClassifierEstimatorSchema.GetOutputSchema(inputSchema, _options.LabelColumnName, Columns);

    /// <inheritdoc/>
    public TextClassifierTransformer Fit(IDataView input)
    {
        _options.Validate(); // the options object may have changed since the estimator was made
        return ClassifierFitting.Fit(_env, "PromptedDecoderClassifier", _options, Columns, input, req =>
            PromptedDecoderClassifierModel.Create(_options.ModelPath!, req.ClassNames, _options.UserTemplate, _options.OptionMarkers,
                _options.DisplayNames(req.ClassNames), req.Device, req.DType, _options.MaxSequenceLength, _options.Truncation, req.Log,
                _options.AnswerLoss, _options.ReusePromptPrefix));
    }
}

/// <summary>The training objective of <see cref="PromptedDecoderClassifierTrainer"/> (<see cref="PromptedDecoderClassifierTrainer.Options.AnswerLoss"/>).</summary>
public enum AnswerLoss
{
    /// <summary>Cross-entropy of every answer token over the whole vocabulary (supervised fine-tuning, the reference experiment).</summary>
    FullVocabulary,

    /// <summary>Cross-entropy over the options' first tokens at the answer position (classification over the C options).</summary>
    Options,
}

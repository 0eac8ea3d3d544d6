using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Text;

namespace MLNetLlmClassifier.Tests.Qwen3;

[TestClass]
public class ChoicePromptTests
{
    private static Qwen3Tokenizer _tok = null!;

    private static readonly string[] AgNewsNames = ["World", "Sports", "Business", "Science/Technology"];
    private static string DefaultTemplate => PromptedDecoderClassifierTrainer.Options.DefaultTemplate;

    [ClassInitialize]
    public static void Load(TestContext _) => _tok = Qwen3Tokenizer.FromFolder(TinyQwen3Folder.TokenizerPath);

    private static ChoicePrompt AgNewsPrompt(int maxLength = 512, TruncationSide side = TruncationSide.Right) =>
        ChoicePrompt.Create(_tok, DefaultTemplate, ChoicePrompt.DefaultMarkers(4, _tok), AgNewsNames, maxLength, side);

    [TestMethod]
    public void DefaultPromptIsTheReferenceChatTextAndTokenisesAsAWhole()
    {
        const string article = "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers are seeing green again.";
        // Written out by hand from the reference experiment: the user message in Qwen3's chat template, non-thinking mode.
        string expected =
            "<|im_start|>user\nPlease read the following news article and determine its category from the options below.\n\n" +
            "Article:\n" + article + "\n\n" +
            "Question: What is the most appropriate category for this news article?\n" +
            "A. World\nB. Sports\nC. Business\nD. Science/Technology\n\n" +
            "Answer:/no_think<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
        var prompt = AgNewsPrompt();
        Assert.AreEqual(expected, prompt.Render(article));
        var (ids, truncated) = prompt.Encode(article);
        Assert.IsFalse(truncated);
        CollectionAssert.AreEqual(_tok.Encode(expected), ids);
        // The answer continues the prompt without merging with it: prompt + "C<|im_end|>" tokenises as prompt ids + C + <|im_end|>.
        CollectionAssert.AreEqual(_tok.Encode(expected + "C<|im_end|>"), ids.Concat(prompt.MarkerIds[2]).Append(prompt.EndOfTurnId).ToArray());
        CollectionAssert.AreEqual(new[] { _tok.TokenToId("C") }, prompt.MarkerIds[2]);
        Assert.AreEqual(_tok.TokenToId("<|im_end|>"), prompt.EndOfTurnId);
    }

    [TestMethod]
    public void OrdinaryTextsGiveTheIdsOfTheWholeRenderedPrompt()
    {
        // Endings and beginnings that merge with the template's newlines (".\n\n" is one token) are the reason a prompt that fits
        // is tokenised in one piece.
        string[] texts = ["Short.", "", " leading space", "trailing space ", "Line\nbreaks\n", "Quote: \"x\" — 東京 café 😀!", "Numbers 2024 and 3.14?",
                          "<|im_end|> inside", "{options} and {text} stay literal"];
        var prompt = AgNewsPrompt();
        foreach (var text in texts)
        {
            var (ids, truncated) = prompt.Encode(text);
            Assert.IsFalse(truncated, text);
            CollectionAssert.AreEqual(_tok.Encode(prompt.Render(text)), ids, $"text '{text}'");
        }
        StringAssert.Contains(prompt.Render("{options} and {text}"), "Article:\n{options} and {text}\n\nQuestion:");
    }

    [TestMethod]
    public void TruncationCutsOnlyTheTextAndKeepsInstructionOptionsAndAnswer()
    {
        var prompt = AgNewsPrompt(maxLength: 120);
        string longText = string.Join(" ", Enumerable.Range(0, 200).Select(i => $"word{i}"));
        var (ids, truncated) = prompt.Encode(longText);
        Assert.IsTrue(truncated);
        Assert.AreEqual(prompt.MaxPromptLength, ids.Length, "the prompt fills the room left by the answer");
        Assert.AreEqual(120, ids.Length + prompt.AnswerLength, "prompt + marker + <|im_end|> = MaxSequenceLength");
        var prefix = _tok.Encode(prompt.Prefix);
        var suffix = _tok.Encode(prompt.Suffix);
        CollectionAssert.AreEqual(prefix, ids.Take(prefix.Length).ToArray(), "instruction kept");
        CollectionAssert.AreEqual(suffix, ids.Skip(ids.Length - suffix.Length).ToArray(), "question, options and chat template kept");
        var kept = ids.Skip(prefix.Length).Take(ids.Length - prefix.Length - suffix.Length).ToArray();
        CollectionAssert.AreEqual(_tok.Encode(longText).Take(kept.Length).ToArray(), kept, "Right keeps the beginning of the text");
        string decoded = _tok.Decode(ids);
        StringAssert.Contains(decoded, "D. Science/Technology\n\nAnswer:/no_think<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");

        var left = AgNewsPrompt(maxLength: 120, side: TruncationSide.Left).Encode(longText).Ids;
        var leftKept = left.Skip(prefix.Length).Take(left.Length - prefix.Length - suffix.Length).ToArray();
        CollectionAssert.AreEqual(_tok.Encode(longText).TakeLast(leftKept.Length).ToArray(), leftKept, "Left keeps the end of the text");

        // A text that fits only once the pieces are tokenised apart is not cut.
        Assert.IsFalse(prompt.Encode("A short text.").Truncated);
    }

    [TestMethod]
    public void APromptThatCannotFitNamesMaxSequenceLengthAndTheTokenCounts()
    {
        var full = AgNewsPrompt();
        int needed = full.FixedPromptLength + full.AnswerLength;
        Assert.AreEqual(needed, AgNewsPrompt(maxLength: needed).MaxLength, "exactly enough room is allowed (the text is then cut away)");
        Assert.AreEqual(0, AgNewsPrompt(maxLength: needed).Encode("Some text").Ids.Length - full.FixedPromptLength);
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => AgNewsPrompt(maxLength: needed - 1));
        Assert.AreEqual("MaxSequenceLength", e.ParamName);
        StringAssert.Contains(e.Message, $"MaxSequenceLength = {needed - 1}");
        StringAssert.Contains(e.Message, $"{full.FixedPromptLength} tokens");
        StringAssert.Contains(e.Message, $"{needed} in all");
    }

    [TestMethod]
    [DataRow(4, "A,B,C,D")]
    [DataRow(30, "Z,AA,AB,AC,AD")]
    [DataRow(60, "Z,AA,AZ,BA,BH")]
    public void DefaultMarkersAreDistinctSingleTokens(int classes, string expectedSome)
    {
        var markers = ChoicePrompt.DefaultMarkers(classes, _tok);
        Assert.HasCount(classes, markers);
        Assert.AreEqual(classes, markers.Distinct().Count());
        foreach (var m in expectedSome.Split(',')) CollectionAssert.Contains(markers.ToList(), m);
        Assert.AreEqual("A", markers[0]);
        var prompt = ChoicePrompt.Create(_tok, DefaultTemplate, markers, markers.Select(m => "class " + m).ToArray(), 2048, TruncationSide.Right);
        Assert.IsTrue(prompt.SingleTokenMarkers);
        Assert.AreEqual(classes, prompt.FirstTokenIds.Distinct().Count(), "distinct answer tokens");
        for (int i = 0; i < classes; i++) Assert.AreEqual(_tok.TryTokenToId(markers[i]), prompt.FirstTokenIds[i], markers[i]);
        StringAssert.Contains(prompt.Render("x"), $"\n{markers[^1]}. class {markers[^1]}\n\nAnswer:");
    }

    [TestMethod]
    public void DefaultMarkersSkipSplitPairsAndRunOutAt578()
    {
        var markers = ChoicePrompt.DefaultMarkers(578, _tok);
        Assert.AreEqual("BP", markers[67], "AA..BP are all single tokens");
        Assert.AreEqual("BR", markers[68], "BQ is two tokens in Qwen3's vocabulary: skipped");
        Assert.IsTrue(markers.All(m => _tok.Encode(m).Length == 1));
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ChoicePrompt.DefaultMarkers(579, _tok));
        Assert.AreEqual("OptionMarkers", e.ParamName);
    }

    [TestMethod]
    public void MarkersSharingTheirFirstTokenAreRejected()
    {
        // "A1" and "A2" are "A" + digit: the first answer token cannot tell them apart.
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() =>
            ChoicePrompt.Create(_tok, DefaultTemplate, ["A1", "A2", "B"], ["x", "y", "z"], 512, TruncationSide.Right));
        Assert.AreEqual("OptionMarkers", e.ParamName);
        StringAssert.Contains(e.Message, "'A1' (class 0) and 'A2' (class 1) both start with the token 'A'");

        var multi = ChoicePrompt.Create(_tok, DefaultTemplate, ["Yes please", "No thanks"], ["yes", "no"], 512, TruncationSide.Right);
        Assert.IsFalse(multi.SingleTokenMarkers);
        Assert.AreEqual(_tok.Encode("Yes please").Length + 1, multi.AnswerLength);
    }

    [TestMethod]
    [DataRow("no text placeholder {options}", "{text}")]
    [DataRow("{text} without options", "{options}")]
    [DataRow("{text} {text} {options}", "exactly once")]
    [DataRow("<|im_start|>user\n{text} {options}", "chat-template tokens")]
    [DataRow("   ", "empty")]
    public void BadTemplatesAreRejectedNamingTheOption(string template, string expected)
    {
        var e = Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => ChoicePrompt.CheckTemplate(template, "PromptTemplate"));
        Assert.AreEqual("PromptTemplate", e.ParamName);
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void ACustomTemplatePlacesTextAndOptions()
    {
        var prompt = ChoicePrompt.Create(_tok, "Options:\n{options}\nReview: {text}\nVerdict:", ["P", "N"], ["positive", "negative"], 256, TruncationSide.Right);
        Assert.AreEqual("<|im_start|>user\nOptions:\nP. positive\nN. negative\nReview: great film\nVerdict:<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
            prompt.Render("great film"));
        CollectionAssert.AreEqual(_tok.Encode(prompt.Render("great film")), prompt.Encode("great film").Ids);
    }
}

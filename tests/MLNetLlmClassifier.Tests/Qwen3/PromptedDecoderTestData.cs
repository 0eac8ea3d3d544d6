using Microsoft.ML;
using MLNetLlmClassifier.MLNet;

namespace MLNetLlmClassifier.Tests.Qwen3;

/// <summary>Rows and pipelines for the prompted decoder tests.</summary>
internal static class PromptedDecoderTestData
{
    public sealed class Row
    {
        public string Label { get; set; } = "";
        public string? Text { get; set; }
    }

    public sealed class TextOnly
    {
        public string? Text { get; set; }
    }

    public sealed class Prediction
    {
        public string PredictedLabel { get; set; } = "";
        public float[] Score { get; set; } = [];
    }

    private static readonly string[] Filler = ["the", "report", "said", "today", "about", "new", "a", "big", "story", "people", "city", "week"];

    /// <summary>
    /// A keyword task: each row is a few filler words with one keyword of its class inserted at a random place
    /// (class i owns keywords[i]). Classes cycle, so every class has the same number of rows.
    /// </summary>
    public static List<Row> Keywords(string[] classes, string[][] keywords, int rows, int seed, int fillerWords = 6)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, rows).Select(i =>
        {
            int c = i % classes.Length;
            var words = Enumerable.Range(0, fillerWords).Select(_ => Filler[rng.Next(Filler.Length)]).ToList();
            words.Insert(rng.Next(words.Count + 1), keywords[c][rng.Next(keywords[c].Length)]);
            return new Row { Label = classes[c], Text = string.Join(" ", words) };
        }).ToList();
    }

    public static readonly string[] TopicClasses = ["sport", "money", "space", "music"];

    public static readonly string[][] TopicKeywords =
        [["football", "tennis", "goal"], ["bank", "stocks", "profit"], ["rocket", "planet", "orbit"], ["guitar", "song", "concert"]];

    /// <summary>MapValueToKey(Label) → <paramref name="trainer"/> → MapKeyToValue(PredictedLabel), as in ML.NET's samples.</summary>
    public static IEstimator<ITransformer> Pipeline(MLContext ml, IEstimator<ITransformer> trainer) =>
        ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(trainer)
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel"));

    /// <summary>Our classifier inside a fitted pipeline.</summary>
    public static TextClassifierTransformer Classifier(ITransformer pipeline) =>
        ((IEnumerable<ITransformer>)pipeline).OfType<TextClassifierTransformer>().Single();

    /// <summary>Frees the tensors of every transformer of a fitted or loaded pipeline.</summary>
    public static void DisposeAll(ITransformer pipeline)
    {
        foreach (var t in (IEnumerable<ITransformer>)pipeline) (t as IDisposable)?.Dispose();
    }
}

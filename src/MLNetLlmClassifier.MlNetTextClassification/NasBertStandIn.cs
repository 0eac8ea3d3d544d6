using Microsoft.ML.TorchSharp.NasBert.Models;
using TorchSharp;

namespace MLNetLlmClassifier.MlNetTextClassification;

/// <summary>
/// A random stand-in for NasBert2000000.tsm, the pre-trained NAS-BERT encoder ML.NET's TextClassification downloads: the same module
/// built through the public <see cref="NasBertEncoder"/> constructor with the arguments ML.NET's trainer uses (RoBERTa BPE vocabulary of
/// 50,265 symbols, padding index 1, embedding 64, 24 layers of its fixed architecture list, no segments, normalise-before), seeded and
/// saved in TorchSharp's format, so that the trainer loads it strictly. For machines without network and for tests; the report of a
/// run on it says that its weights are random.
/// </summary>
public static class NasBertStandIn
{
    /// <summary>RoBERTa BPE symbols (ML.NET's EnglishRobertaTokenizer.SymbolsCount).</summary>
    public const int VocabularySize = 50265;

    /// <summary>The padding index of ML.NET's RoBERTa tokenizer.</summary>
    public const int PaddingIndex = 1;

    /// <summary>ML.NET's NasBertOptions.Arches: the operation of each of the 24 layers, fixed in the pre-trained model.</summary>
    private static readonly int[] Arches = [9, 11, 7, 0, 0, 0, 11, 11, 7, 0, 0, 0, 9, 7, 11, 0, 0, 0, 10, 7, 9, 0, 0, 0];

    /// <summary>The seed of the stand-in's weights (fixed, so that every machine builds the same file).</summary>
    public const int Seed = 20_000_000;

    /// <summary>
    /// Builds the stand-in once under <paramref name="tempFilePath"/> and returns the folder to use as ML.NET's TempFilePath: its
    /// <c>mlnet/NasBert2000000.tsm</c> is the stand-in. It never touches <c>&lt;tempFilePath&gt;/mlnet/</c>, where ML.NET keeps the real file.
    /// </summary>
    public static string Ensure(string tempFilePath)
    {
        var root = Path.Combine(tempFilePath, "mlnetllm-nasbert-random-standin");
        var file = Path.Combine(root, "mlnet", MlNetTextClassificationEstimator.WeightsFileName);
        if (File.Exists(file)) return root;
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var tmp = MLNetLlmClassifier.IO.TempArtifacts.Sibling(file);
        using var tracked = MLNetLlmClassifier.IO.TempArtifacts.Track(tmp);
        try
        {
            using (var encoder = Create())
                encoder.save(tmp);
            File.Move(tmp, file, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
        return root;
    }

    /// <summary>A freshly initialised encoder with the pre-trained model's shapes (seeded with <see cref="Seed"/>).</summary>
    public static NasBertEncoder Create()
    {
        torch.manual_seed(Seed);
        return new NasBertEncoder(PaddingIndex, VocabularySize, dropout: 0.1, attentionDropout: 0.1, activationDropout: 0.0,
            activationFn: "gelu", dynamicDropout: false, addBiasKv: false, addZeroAttention: false, maxSeqLen: 512,
            learnedPositionEmbedding: true, embedSize: 64, embedScale: null, arches: Arches, usePositionEmbedding: true,
            offsetPositionsByPadding: true, numSegments: 0, encoderNormalizeBefore: true, numEncoderLayers: 24, applyBertInit: true);
    }
}

using MLNetLlmClassifier.Training;

namespace MLNetLlmClassifier.Tests.Training;

[TestClass]
public class LearningRateTests
{
    [TestMethod]
    public void WarmupThenCosineToZero()
    {
        Assert.AreEqual(0.5, LearningRate.At(0, 100, 2, 1.0, LearningRateSchedule.Cosine), 1e-12);
        Assert.AreEqual(1.0, LearningRate.At(1, 100, 2, 1.0, LearningRateSchedule.Cosine), 1e-12);
        Assert.AreEqual(1.0, LearningRate.At(2, 100, 2, 1.0, LearningRateSchedule.Cosine), 1e-12);
        Assert.AreEqual(0.5, LearningRate.At(51, 100, 2, 1.0, LearningRateSchedule.Cosine), 1e-12);
        Assert.AreEqual(0.0, LearningRate.At(100, 100, 2, 1.0, LearningRateSchedule.Cosine), 1e-12);
    }

    [TestMethod]
    public void LinearAndConstant()
    {
        Assert.AreEqual(0.75, LearningRate.At(25, 100, 0, 1.0, LearningRateSchedule.Linear), 1e-12);
        Assert.AreEqual(1.0, LearningRate.At(99, 100, 0, 1.0, LearningRateSchedule.Constant), 1e-12);
    }

    [TestMethod]
    public void BatchesGroupSimilarLengthsAndCoverEveryRowOnce()
    {
        var rng = new Random(1);
        var lengths = Enumerable.Range(0, 1000).Select(_ => rng.Next(1, 500)).ToArray();
        var batches = LengthBucketSampler.TrainingBatches(lengths, 10, new Random(2));
        CollectionAssert.AreEquivalent(Enumerable.Range(0, 1000).ToArray(), batches.SelectMany(b => b).ToArray());
        double spread = batches.Average(b => b.Max(i => lengths[i]) - b.Min(i => lengths[i]));
        Assert.IsTrue(spread < 60, $"mean length spread inside a batch {spread}");
        var again = LengthBucketSampler.TrainingBatches(lengths, 10, new Random(2));
        Assert.IsTrue(batches.Zip(again).All(p => p.First.SequenceEqual(p.Second)), "not deterministic");
    }
}

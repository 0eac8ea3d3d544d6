using Microsoft.ML;
using Microsoft.ML.Data;
using MLNetLlmClassifier.MLNet;

namespace MLNetLlmClassifier.Tests.MLNet;

[TestClass]
public sealed class SchemaShapeHelperTests
{
    private sealed class InputRow
    {
        public float X { get; set; }
        public string Label { get; set; } = "";
        public string Scaled { get; set; } = ""; // replaced by the estimator's Single column of the same name
    }

    [TestMethod]
    public void WithColumns_AddsKeyColumnThatMapKeyToValueAccepts()
    {
        var ml = new MLContext(seed: 1);
        var data = ml.Data.LoadFromEnumerable(new[] { new InputRow { X = 1f, Label = "a", Scaled = "s" } });
        var pipeline = ml.Transforms.Conversion.MapValueToKey("Label")
            .Append(new DummyScaleEstimator("X", 2f, ["low", "high"], []))
            // MapKeyToValue's GetOutputSchema demands a key column with KeyValues annotations.
            .Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabelText", DummyScaleTransformer.PredictedLabelColumn));

        var shape = pipeline.GetOutputSchema(SchemaShapeHelper.FromSchema(data.Schema));
        var columns = shape.ToDictionary(c => c.Name);

        var key = columns[DummyScaleTransformer.PredictedLabelColumn];
        Assert.IsTrue(key.IsKey);
        Assert.AreEqual(SchemaShape.Column.VectorKind.Scalar, key.Kind);
        Assert.IsTrue(key.Annotations.Any(a => a.Name == "KeyValues"));
        Assert.AreEqual(TextDataViewType.Instance, columns["PredictedLabelText"].ItemType);
        Assert.AreEqual(NumberDataViewType.Single, columns[DummyScaleTransformer.ScaledColumn].ItemType);
        // Replaced in place, not appended: same order as the input.
        CollectionAssert.AreEqual(new[] { "X", "Label", "Scaled" }, shape.Take(3).Select(c => c.Name).ToArray());

        // And the estimator shape agrees with what the fitted pipeline really produces.
        var output = pipeline.Fit(data).Transform(data).Schema;
        foreach (var column in shape)
        {
            var type = output[column.Name].Type;
            var itemType = (type as VectorDataViewType)?.ItemType ?? type;
            // Shapes describe key columns by their raw type plus IsKey.
            Assert.AreEqual(itemType is KeyDataViewType, column.IsKey, column.Name);
            Assert.AreEqual(itemType.RawType, column.ItemType.RawType, column.Name);
        }
    }

    [TestMethod]
    public void DummyEstimator_MissingInputColumn_ThrowsNamingIt()
    {
        var shape = SchemaShapeHelper.FromSchema(new MLContext().Data.LoadFromEnumerable(new[] { new InputRow() }).Schema);
        var error = Assert.Throws<ArgumentException>(() => new DummyScaleEstimator("Nope", 1f, ["a"], []).GetOutputSchema(shape));
        StringAssert.Contains(error.Message, "Nope");
    }
}

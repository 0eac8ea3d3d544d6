using System.Reflection;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;

namespace MLNetLlmClassifier.MLNet;

// TEMPORARY: merged into MlNetInternals.cs with the persistence work.
internal static partial class MlNetInternals
{
    public static SchemaShape.Column NewSchemaColumn(string name, SchemaShape.Column.VectorKind kind, DataViewType itemType, bool isKey, SchemaShape? annotations = null)
    {
        var ctor = typeof(SchemaShape.Column).GetConstructors(BindingFlags.NonPublic | BindingFlags.Instance)
            .Single(c => c.GetParameters().Length == 5);
        return (SchemaShape.Column)ctor.Invoke(new object?[] { name, kind, itemType, isKey, annotations });
    }

    public static IHostEnvironment GetEnvironment(object catalog)
    {
        var iface = catalog.GetType().GetInterfaces().Single(i => i.FullName == "Microsoft.ML.Data.IInternalCatalog");
        return (IHostEnvironment)iface.GetProperty("Environment")!.GetValue(catalog)!;
    }
}

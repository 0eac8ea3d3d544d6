using Microsoft.ML;
using Microsoft.ML.Runtime;

// Lets the runtime accept the woven loader attribute (build/LoaderRegistrationWeaver.targets), which derives from ML.NET's internal
// LoadableClassAttributeBase and names its internal SignatureLoadModel and ModelLoadContext types. The C# compiler ignores this
// attribute; CoreCLR honours it for the access checks of the woven code.
[assembly: System.Runtime.CompilerServices.IgnoresAccessChecksTo("Microsoft.ML.Core")]

namespace System.Runtime.CompilerServices
{
    /// <summary>Runtime access to the internals of the named assembly (recognised by CoreCLR by its full name; declared here as usual).</summary>
    [AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
    internal sealed class IgnoresAccessChecksToAttribute(string assemblyName) : Attribute
    {
        /// <summary>The assembly whose internals are reached.</summary>
        public string AssemblyName { get; } = assemblyName;
    }
}

namespace MLNetLlmClassifier.MLNet
{
    /// <summary>
    /// What the woven <c>[assembly: LoaderRegistration]</c> attribute calls. A model.zip names this assembly as its loader assembly;
    /// ML.NET's Model.Load then calls <c>Assembly.Load</c> and <c>ComponentCatalog.RegisterAssembly</c> on it, which finds the woven
    /// attribute and registers <see cref="Create"/>'s woven twin under our loader signature. So a model loads in any MLContext,
    /// without <see cref="MLNetLlmClassifierRegistration.RegisterMLNetLlmClassifier(MLContext)"/>.
    /// </summary>
    internal static class AutomaticRegistration
    {
        /// <summary>
        /// The loader signatures the weaver registers, comma-separated (one woven attribute each; the weaver reads this constant from the
        /// compiled assembly). A test checks that it lists exactly the built-in formats.
        /// </summary>
        internal const string WovenLoaderSignatures = "MLNETLLM-TEXTCLASSIFIER";

        /// <summary>
        /// The body of the woven <c>Create(IHostEnvironment, ModelLoadContext)</c>: registers the built-in formats (the dispatch table
        /// of <see cref="MlNetInternals"/>) and loads. <paramref name="ctx"/> is a ModelLoadContext.
        /// </summary>
        internal static ITransformer Create(IHostEnvironment env, object ctx)
        {
            MLNetLlmClassifierRegistration.RegisterBuiltInFormats();
            return MlNetInternals.LoadFromModelEntry(env, ctx);
        }
    }
}

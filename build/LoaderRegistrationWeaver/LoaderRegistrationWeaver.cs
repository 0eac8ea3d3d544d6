// Weaves ML.NET loader registration into MLNetLlmClassifier.dll after it is compiled (see LoaderRegistrationWeaver.targets).
//
// ML.NET's Model.Load calls Assembly.Load on the loader assembly a model names, then ComponentCatalog.RegisterAssembly, which
// registers every [assembly: X] attribute deriving from its internal LoadableClassAttributeBase. C# cannot derive from that internal
// class, nor name the internal SignatureLoadModel and ModelLoadContext types a loader needs. This tool adds, in IL:
//   internal sealed class MLNetLlmClassifier.MLNet.LoaderRegistrationAttribute : Microsoft.ML.LoadableClassAttributeBase
//   {
//       public LoaderRegistrationAttribute(string loaderSignature)
//           : base("MLNetLlmClassifier model loader", typeof(ITransformer), typeof(LoaderRegistrationAttribute), null,
//                  new[] { typeof(SignatureLoadModel) }, null, new[] { loaderSignature }) { }
//       internal static ITransformer Create(IHostEnvironment env, ModelLoadContext ctx) => AutomaticRegistration.Create(env, ctx);
//   }
//   [assembly: LoaderRegistration("<each signature of the constant AutomaticRegistration.WovenLoaderSignatures>")]
// The assembly's [assembly: IgnoresAccessChecksTo("Microsoft.ML.Core")] (in C#) lets the runtime accept the internal base class.
// Usage: LoaderRegistrationWeaver <assembly.dll> <Microsoft.ML.Core.dll> <references.txt>; idempotent; replaces the file
// (and its .pdb) through temporary files and a rename.
using Mono.Cecil;
using Mono.Cecil.Cil;
using Mono.Cecil.Rocks;

if (args.Length != 3)
{
    Console.Error.WriteLine("usage: LoaderRegistrationWeaver <assembly.dll> <Microsoft.ML.Core.dll> <file listing the assembly's references>");
    return 2;
}
string target = args[0], corePath = args[1];
const string Namespace = "MLNetLlmClassifier.MLNet", Name = "LoaderRegistrationAttribute";

var resolver = new DefaultAssemblyResolver();
resolver.AddSearchDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
foreach (string folder in File.ReadAllLines(args[2]).Where(l => l.Length > 0).Append(corePath).Select(r => Path.GetDirectoryName(Path.GetFullPath(r))!).Distinct())
    resolver.AddSearchDirectory(folder);
string pdb = Path.ChangeExtension(target, ".pdb");
bool symbols = File.Exists(pdb);
using var module = ModuleDefinition.ReadModule(target, new ReaderParameters
{
    AssemblyResolver = resolver,
    InMemory = true,
    ReadSymbols = symbols,
    SymbolReaderProvider = symbols ? new PortablePdbReaderProvider() : null,
});
if (module.GetType(Namespace, Name) is not null)
{
    Console.WriteLine($"{target}: loader registration already woven");
    return 0;
}
using var core = ModuleDefinition.ReadModule(corePath, new ReaderParameters { AssemblyResolver = resolver });
TypeDefinition Core(string fullName) => core.GetType(fullName) ?? throw new InvalidOperationException($"{corePath} has no type {fullName}.");
var baseType = Core("Microsoft.ML.LoadableClassAttributeBase");
var baseCtor = baseType.GetConstructors().Single(c => c.Parameters.Count == 7);
var signatureType = Core("Microsoft.ML.SignatureLoadModel");
var loadContext = Core("Microsoft.ML.ModelLoadContext");
var hostEnvironment = Core("Microsoft.ML.Runtime.IHostEnvironment");
var transformer = Core("Microsoft.ML.ITransformer");
var registration = module.GetType(Namespace + ".AutomaticRegistration")
    ?? throw new InvalidOperationException($"{target} has no {Namespace}.AutomaticRegistration.");
var forward = registration.Methods.SingleOrDefault(m => m.Name == "Create")
    ?? throw new InvalidOperationException($"{target} has no {Namespace}.AutomaticRegistration.Create to forward to.");
string[] signatures = (registration.Fields.SingleOrDefault(f => f.Name == "WovenLoaderSignatures" && f.HasConstant)?.Constant as string
    ?? throw new InvalidOperationException($"{target} has no constant {Namespace}.AutomaticRegistration.WovenLoaderSignatures."))
    .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

var typeType = module.ImportReference(typeof(Type));
var getTypeFromHandle = module.ImportReference(typeof(Type).GetMethod(nameof(Type.GetTypeFromHandle))!);
var attribute = new TypeDefinition(Namespace, Name,
    TypeAttributes.NotPublic | TypeAttributes.Sealed | TypeAttributes.BeforeFieldInit | TypeAttributes.Class, module.ImportReference(baseType));
module.Types.Add(attribute);

// public LoaderRegistrationAttribute(string loaderSignature) : base(...)
var ctor = new MethodDefinition(".ctor",
    MethodAttributes.Public | MethodAttributes.HideBySig | MethodAttributes.SpecialName | MethodAttributes.RTSpecialName, module.TypeSystem.Void);
ctor.Parameters.Add(new ParameterDefinition("loaderSignature", ParameterAttributes.None, module.TypeSystem.String));
var il = ctor.Body.GetILProcessor();
void TypeOf(TypeReference t) { il.Emit(OpCodes.Ldtoken, t); il.Emit(OpCodes.Call, getTypeFromHandle); }
il.Emit(OpCodes.Ldarg_0);
il.Emit(OpCodes.Ldstr, "MLNetLlmClassifier model loader");
TypeOf(module.ImportReference(transformer));
TypeOf(attribute);
il.Emit(OpCodes.Ldnull);
il.Emit(OpCodes.Ldc_I4_1);
il.Emit(OpCodes.Newarr, typeType);
il.Emit(OpCodes.Dup);
il.Emit(OpCodes.Ldc_I4_0);
TypeOf(module.ImportReference(signatureType));
il.Emit(OpCodes.Stelem_Ref);
il.Emit(OpCodes.Ldnull);
il.Emit(OpCodes.Ldc_I4_1);
il.Emit(OpCodes.Newarr, module.TypeSystem.String);
il.Emit(OpCodes.Dup);
il.Emit(OpCodes.Ldc_I4_0);
il.Emit(OpCodes.Ldarg_1);
il.Emit(OpCodes.Stelem_Ref);
il.Emit(OpCodes.Call, module.ImportReference(baseCtor));
il.Emit(OpCodes.Ret);
attribute.Methods.Add(ctor);

// internal static ITransformer Create(IHostEnvironment env, ModelLoadContext ctx) => AutomaticRegistration.Create(env, ctx);
var create = new MethodDefinition("Create", MethodAttributes.Assembly | MethodAttributes.Static | MethodAttributes.HideBySig,
    module.ImportReference(transformer));
create.Parameters.Add(new ParameterDefinition("env", ParameterAttributes.None, module.ImportReference(hostEnvironment)));
create.Parameters.Add(new ParameterDefinition("ctx", ParameterAttributes.None, module.ImportReference(loadContext)));
il = create.Body.GetILProcessor();
il.Emit(OpCodes.Ldarg_0);
il.Emit(OpCodes.Ldarg_1);
il.Emit(OpCodes.Call, forward);
il.Emit(OpCodes.Ret);
attribute.Methods.Add(create);

foreach (string signature in signatures)
{
    var applied = new CustomAttribute(ctor);
    applied.ConstructorArguments.Add(new CustomAttributeArgument(module.TypeSystem.String, signature));
    module.Assembly.CustomAttributes.Add(applied);
}

string tmp = target + ".weave.tmp", tmpPdb = pdb + ".weave.tmp";
module.Write(tmp, new WriterParameters
{
    WriteSymbols = symbols,
    SymbolWriterProvider = symbols ? new PortablePdbWriterProvider() : null,
    DeterministicMvid = true,
});
if (symbols)
{
    File.Move(Path.ChangeExtension(tmp, ".pdb"), tmpPdb, overwrite: true);
}
File.Move(tmp, target, overwrite: true);
if (symbols) File.Move(tmpPdb, pdb, overwrite: true);
Console.WriteLine($"{target}: wove loader registration for {string.Join(", ", signatures)}");
return 0;

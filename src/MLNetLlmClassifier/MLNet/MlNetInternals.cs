using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace MLNetLlmClassifier.MLNet;

// =====================================================================================================
// Persistence of our transformers inside ordinary ML.NET model files (mlContext.Model.Save / Load).
//
// WHY REFLECTION. ML.NET 5 makes everything a third-party transformer needs to take part in its model
// format internal ("[BestFriend] internal", visible only to Microsoft's own assemblies):
//   - ModelSaveContext is public, but SetVersionInfo, Writer and SaveBinaryStream are internal.
//   - ModelLoadContext, VersionInfo, SignatureLoadModel, LoadableClassAttribute(Base) and
//     ComponentCatalog.LoadableClassInfo are internal types.
//   - The only public registration entry, ComponentCatalog.RegisterAssembly, just scans an assembly for
//     [assembly: LoadableClass(...)] attributes, which C# cannot apply from outside ML.NET (internal type).
//     Its other hook, ExtensionBaseAttribute, has a `private protected` constructor, so that is closed too.
// So this file, and only this file, reaches into those internals by reflection. Every member it uses is
// listed in MissingMembers (a test asserts it is empty), and every use fails with an exception that names
// the missing member and the Microsoft.ML version found at run time.
//
// HOW ML.NET SAVES AND LOADS A TRANSFORMER (read from the IL of the shipped 5.0.1 assemblies; unchanged in 6.0.0, which the tests run):
//   Save: TransformerChain.Save calls ctx.SaveModel(transformer, "Transform_000"), which makes a fresh
//     ModelSaveContext for the sub-directory and calls our ICanSaveModel.Save(ctx). We must set a
//     VersionInfo (model signature, versions, loader signature), write our bytes to ctx.Writer (the
//     directory's "Model.key" stream) and may add named binary streams next to it (zip entries).
//     Model.Save uses a file-system backed repository: each entry is written to a temp file and copied
//     into the zip (Deflate) on commit, so large weight streams are never held in memory.
//   Load: ModelLoadContext.TryLoadModelCore reads the header's loader signature and asks
//     env.ComponentCatalog for the loadable class registered under (SignatureLoadModel, signature),
//     then invokes its static Create(IHostEnvironment env, ModelLoadContext ctx). If nothing is found,
//     ML.NET throws "Couldn't load model: 'TransformerChain/Transform_001'" (the transformer's directory;
//     no hint about registration, and nothing we can intercept).
//     After Create returns, ML.NET checks that the "Model.key" stream was consumed exactly.
//     Model.Load disposes the repository (and its temp files) when it returns: read everything eagerly.
//
// REGISTRATION. Each ComponentCatalog (one per MLContext) must hold our loaders before Model.Load finds one.
// Automatic: Model.Load calls RegisterAssembly on the loader assembly a model names (ours), and the build
// weaves into this assembly an attribute deriving from ML.NET's internal LoadableClassAttributeBase (see
// AutomaticRegistration.cs and build/LoaderRegistrationWeaver.targets), so ML.NET registers the loader itself.
// By reflection: RegisterLoadersInto(catalog) adds one LoadableClassInfo per loader signature, all pointing at
// LoadFromModel below, which dispatches on the loader signature we also store in our own prefix; it skips a
// signature the catalog already maps. RegisterMLNetLlmClassifier() does both (it is needed only for formats
// registered at run time, such as the tests' dummy, or for a build without the weave).
//
// OUR LAYOUT of the directory's "Model.key" stream (after ML.NET's own header):
//   string Magic | string loaderSignature | uint verWritten | uint verReadable |
//   int streamCount | string[streamCount] streamNames | long headerLength | byte[headerLength] header
// The loader signature and versions repeat what ML.NET's header holds because that header is an
// internal struct; keeping our own copy saves two reflected members and lets us check versions with
// clear messages. Binary streams are sibling zip entries named streamNames[i] in the same directory.
// =====================================================================================================

/// <summary>
/// Identity and version of one saveable transformer type, plus the factory that loads it.
/// Versions follow ML.NET's VersionInfo convention.
/// </summary>
/// <param name="LoaderSignature">Name ML.NET looks the loader up by; at most 24 ASCII characters, unique across ML.NET.</param>
/// <param name="ModelSignature">Short tag stored in ML.NET's header; at most 8 ASCII characters.</param>
/// <param name="VerWritten">Format version this code writes.</param>
/// <param name="VerReadable">Oldest code format version that can still read what this code writes.</param>
/// <param name="VerWeCanReadBack">Oldest written format version this code can still read.</param>
/// <param name="Load">Rebuilds the transformer from what <see cref="MlNetInternals.SaveModel"/> wrote.</param>
internal sealed record MlNetModelFormat(
    string LoaderSignature,
    string ModelSignature,
    uint VerWritten,
    uint VerReadable,
    uint VerWeCanReadBack,
    Func<IHostEnvironment, MlNetModelReader, ITransformer> Load)
{
    /// <summary>Checks the limits ML.NET's header puts on signatures (fixed-size ASCII fields).</summary>
    internal void Validate()
    {
        static bool Ascii(string s, int max) => s.Length is > 0 && s.Length <= max && s.All(c => c is > ' ' and < (char)127);
        if (!Ascii(LoaderSignature, 24))
            throw new ArgumentException($"Loader signature '{LoaderSignature}' must be 1 to 24 printable ASCII characters without spaces.");
        if (!Ascii(ModelSignature, 8))
            throw new ArgumentException($"Model signature '{ModelSignature}' of loader '{LoaderSignature}' must be 1 to 8 printable ASCII characters without spaces.");
        if (VerReadable > VerWritten || VerWeCanReadBack > VerWritten)
            throw new ArgumentException($"Loader '{LoaderSignature}': VerReadable ({VerReadable:X8}) and VerWeCanReadBack ({VerWeCanReadBack:X8}) must not exceed VerWritten ({VerWritten:X8}).");
    }
}

/// <summary>
/// What a loader factory receives: our small header and access to the named binary streams of the
/// transformer's model directory. Valid only while the factory runs (ML.NET deletes the extracted
/// temp files when Model.Load returns), so read weights eagerly.
/// </summary>
internal sealed class MlNetModelReader
{
    private readonly object _ctx;

    internal MlNetModelReader(object ctx, string directory, string loaderSignature, uint versionWritten,
        IReadOnlyList<string> streamNames, byte[] header)
    {
        _ctx = ctx;
        Directory = directory;
        LoaderSignature = loaderSignature;
        VersionWritten = versionWritten;
        StreamNames = streamNames;
        Header = new BinaryReader(new MemoryStream(header, writable: false), Encoding.UTF8);
    }

    /// <summary>Directory of this transformer inside the model zip, e.g. "TransformerChain/Transform_001" (for messages).</summary>
    public string Directory { get; }

    public string LoaderSignature { get; }

    /// <summary>Format version the model was written with (to branch on when reading older models).</summary>
    public uint VersionWritten { get; }

    /// <summary>Names of the binary streams SaveModel wrote, in order.</summary>
    public IReadOnlyList<string> StreamNames { get; }

    /// <summary>The bytes the writeHeader callback of SaveModel produced.</summary>
    public BinaryReader Header { get; }

    /// <summary>Declared uncompressed length of each stream of the directory (zip central directory), by name ignoring case.</summary>
    public IReadOnlyDictionary<string, long> DeclaredLengths { get; init; } = new Dictionary<string, long>();

    /// <summary>Runs <paramref name="read"/> on the named stream (seekable); throws naming the stream and directory if it is missing.</summary>
    public void ReadStream(string name, Action<Stream> read)
    {
        if (TryReadStream(name, read))
            return;
        if (StreamNames.Contains(name, StringComparer.OrdinalIgnoreCase))
            throw new InvalidDataException(
                $"Model directory '{Directory}' ({LoaderSignature}) lists the stream '{name}' but the zip has no entry '{Directory}/{name}': the file was altered or cut short.");
        throw new InvalidDataException($"Model directory '{Directory}' ({LoaderSignature}) has no stream '{name}'. Streams present: {string.Join(", ", StreamNames)}.");
    }

    /// <summary>Runs <paramref name="read"/> on the named stream if the model has it; returns false otherwise.</summary>
    public bool TryReadStream(string name, Action<Stream> read)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(read);
        if (!StreamNames.Contains(name, StringComparer.OrdinalIgnoreCase))
            return false;
        return MlNetInternals.TryLoadBinaryStream(_ctx, name, read);
    }
}

/// <summary>All access to ML.NET internals (see the comment at the top of this file).</summary>
internal static class MlNetInternals
{
    /// <summary>First string of our "Model.key" stream; guards against foreign data under one of our loader signatures.</summary>
    private const string Magic = "MLNetLlmClassifier.Model";

    /// <summary>Microsoft.ML version this file was written and tested against.</summary>
    internal const string TestedMlNetVersion = "6.0.0";

    /// <summary>Microsoft.ML version loaded at run time (its assemblies are all versioned 1.0.0.0, so use the informational version).</summary>
    internal static readonly string MlNetVersion =
        (typeof(ModelSaveContext).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown")
        .Split('+')[0];

    // ------------------------------------------------------------------ reflected members
    // Resolved once. A member that is not found is recorded in Missing and holds null; Get() throws for
    // it only when a feature actually needs it, so e.g. a broken SchemaShape hook does not break loading.

    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static;
    private static readonly Assembly Core = typeof(ModelSaveContext).Assembly; // Microsoft.ML.Core
    private static readonly List<string> Missing = [];

    // internal struct VersionInfo(string modelSignature, uint verWrittenCur, uint verReadableCur,
    //     uint verWeCanReadBack, string loaderAssemblyName, string loaderSignature, string loaderSignatureAlt)
    // Constructors are matched by parameter names too: three strings in a row could be reordered silently.
    private static readonly Member<Type> VersionInfoType = FindType("Microsoft.ML.VersionInfo");
    private static readonly Member<ConstructorInfo> VersionInfoCtor = FindCtor(VersionInfoType.Value,
        (typeof(string), "modelSignature"), (typeof(uint), "verWrittenCur"), (typeof(uint), "verReadableCur"),
        (typeof(uint), "verWeCanReadBack"), (typeof(string), "loaderAssemblyName"), (typeof(string), "loaderSignature"),
        (typeof(string), "loaderSignatureAlt"));

    // ModelSaveContext: internal void SetVersionInfo(VersionInfo), internal readonly BinaryWriter Writer,
    // internal void SaveBinaryStream(string name, Action<BinaryWriter> fn)
    private static readonly Member<MethodInfo> SaveSetVersionInfo = FindMethod(typeof(ModelSaveContext), "SetVersionInfo", VersionInfoType.Value);
    private static readonly Member<FieldInfo> SaveWriter = FindField(typeof(ModelSaveContext), "Writer");
    private static readonly Member<MethodInfo> SaveBinaryStream = FindMethod(typeof(ModelSaveContext), "SaveBinaryStream", typeof(string), typeof(Action<BinaryWriter>));

    // internal sealed class ModelLoadContext: public BinaryReader Reader, public string Directory,
    // public bool TryLoadBinaryStream(string name, Action<BinaryReader> action)
    private static readonly Member<Type> LoadContextType = FindType("Microsoft.ML.ModelLoadContext");
    private static readonly Member<FieldInfo> LoadReader = FindField(LoadContextType.Value, "Reader");
    private static readonly Member<FieldInfo> LoadDirectory = FindField(LoadContextType.Value, "Directory");
    private static readonly Member<MethodInfo> LoadTryBinaryStream = FindMethod(LoadContextType.Value, "TryLoadBinaryStream", typeof(string), typeof(Action<BinaryReader>));

    // Zip limits before extraction (ML.NET extracts an entry to a temp file in full when it is opened):
    // ModelLoadContext.Repository (internal sealed class RepositoryReader), RepositoryReader._archive (ZipArchive).
    private static readonly Member<FieldInfo> LoadRepository = FindField(LoadContextType.Value, "Repository");
    private static readonly Member<FieldInfo> RepositoryArchive = FindField(FindType("Microsoft.ML.RepositoryReader").Value, "_archive");

    // Registration: internal delegate void SignatureLoadModel(ModelLoadContext ctx);
    // internal sealed class LoadableClassAttribute(string summary, Type instType, Type loaderType,
    //     Type argType, Type[] sigTypes, string userName, params string[] loadNames);
    // ComponentCatalog.LoadableClassInfo(LoadableClassAttributeBase attr, MethodInfo getter,
    //     ConstructorInfo ctor, MethodInfo create, bool requireEnvironment);
    // ComponentCatalog: private void AddClass(LoadableClassInfo, string[] loadNames, bool throwOnError),
    //     private readonly object _lock (what RegisterAssembly locks while it calls AddClass).
    private static readonly Member<Type> SignatureLoadModelType = FindType("Microsoft.ML.SignatureLoadModel");
    private static readonly Member<Type> LoadableClassAttributeType = FindType("Microsoft.ML.LoadableClassAttribute");
    private static readonly Member<ConstructorInfo> LoadableClassAttributeCtor = FindCtor(LoadableClassAttributeType.Value,
        (typeof(string), "summary"), (typeof(Type), "instType"), (typeof(Type), "loaderType"), (typeof(Type), "argType"),
        (typeof(Type[]), "sigTypes"), (typeof(string), "userName"), (typeof(string[]), "loadNames"));
    private static readonly Member<Type> LoadableClassInfoType = FindType("Microsoft.ML.Runtime.ComponentCatalog+LoadableClassInfo");
    private static readonly Member<ConstructorInfo> LoadableClassInfoCtor = FindCtor(LoadableClassInfoType.Value,
        (FindType("Microsoft.ML.LoadableClassAttributeBase").Value, "attr"), (typeof(MethodInfo), "getter"),
        (typeof(ConstructorInfo), "ctor"), (typeof(MethodInfo), "create"), (typeof(bool), "requireEnvironment"));
    // ComponentCatalog: internal LoadableClassInfo GetLoadableClassInfo(string loadName, Type signatureType)
    private static readonly Member<MethodInfo> CatalogGetLoadableClassInfo = FindMethod(typeof(ComponentCatalog), "GetLoadableClassInfo", typeof(string), typeof(Type));
    private static readonly Member<MethodInfo> CatalogAddClass = FindMethod(typeof(ComponentCatalog), "AddClass", LoadableClassInfoType.Value, typeof(string[]), typeof(bool));
    private static readonly Member<FieldInfo> CatalogLock = FindField(typeof(ComponentCatalog), "_lock");

    // internal static SchemaShape SchemaShape.Create(DataViewSchema) (SchemaShape.Column's constructor is internal too).
    private static readonly Member<MethodInfo> SchemaShapeCreate = FindMethod(typeof(SchemaShape), "Create", typeof(DataViewSchema));

    // Catalog extension methods need the MLContext's environment (its seed, log and component catalog):
    // TrainCatalogBase.CatalogInstantiatorBase implements the internal interface
    // Microsoft.ML.Data.IInternalCatalog { IHostEnvironment Environment { get; } } explicitly.
    private static readonly Member<PropertyInfo> InternalCatalogEnvironment = Found(
        typeof(MulticlassClassificationCatalog).Assembly.GetType("Microsoft.ML.Data.IInternalCatalog")?.GetProperty("Environment", Any),
        "property IInternalCatalog.Environment");

    /// <summary>Our own loader entry point, registered as the static "Create" method of every loader signature.</summary>
    private static readonly MethodInfo LoadEntry = typeof(MlNetInternals).GetMethod(nameof(LoadFromModel), BindingFlags.NonPublic | BindingFlags.Static)!;

    /// <summary>ML.NET members this file needs that the loaded Microsoft.ML lacks (empty when all is well).</summary>
    internal static IReadOnlyList<string> MissingMembers => Missing;

    // ------------------------------------------------------------------ loader registry

    private static readonly ConcurrentDictionary<string, MlNetModelFormat> Formats = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Catalogs we registered into, and which loader signatures each holds (weak: catalogs die with their MLContext).</summary>
    private static readonly ConditionalWeakTable<ComponentCatalog, HashSet<string>> Registered = new();

    /// <summary>
    /// Makes a transformer format known to this process. Idempotent for the same format; throws when a
    /// different format claims the same loader signature. Catalogs registered earlier pick it up at their
    /// next <see cref="RegisterLoadersInto"/> call.
    /// </summary>
    internal static void RegisterLoader(MlNetModelFormat format)
    {
        ArgumentNullException.ThrowIfNull(format);
        format.Validate();
        var existing = Formats.GetOrAdd(format.LoaderSignature, format);
        if (existing != format) // record equality: same signatures, versions and factory
            throw new InvalidOperationException($"Loader signature '{format.LoaderSignature}' is already registered for model signature '{existing.ModelSignature}' with another factory.");
    }

    /// <summary>
    /// Adds every registered loader to <paramref name="catalog"/> so that Model.Load finds it.
    /// Idempotent and thread-safe (takes the catalog's own lock, as RegisterAssembly does).
    /// </summary>
    internal static void RegisterLoadersInto(ComponentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var signatureType = SignatureLoadModelType.Get();
        var attrCtor = LoadableClassAttributeCtor.Get();
        var infoCtor = LoadableClassInfoCtor.Get();
        var addClass = CatalogAddClass.Get();
        var gate = CatalogLock.Get().GetValue(catalog)!;

        lock (gate)
        {
            var done = Registered.GetOrCreateValue(catalog);
            foreach (var format in Formats.Values)
            {
                if (done.Contains(format.LoaderSignature))
                    continue;
                // Already there through ML.NET's own path (RegisterAssembly found the woven attribute when a model was loaded).
                if (Invoke(CatalogGetLoadableClassInfo.Get(), catalog, format.LoaderSignature, signatureType) is not null)
                {
                    done.Add(format.LoaderSignature);
                    continue;
                }
                // Equivalent of [assembly: LoadableClass(typeof(ITransformer), typeof(MlNetInternals), null,
                //     typeof(SignatureLoadModel), null, "<loader signature>")]: hidden (no user name), no arguments
                // object, created by LoadFromModel(IHostEnvironment, ModelLoadContext) with the environment first.
                var loadNames = new[] { format.LoaderSignature };
                var attr = Construct(attrCtor, $"MLNetLlmClassifier loader for {format.LoaderSignature}", typeof(ITransformer),
                    typeof(MlNetInternals), null, new[] { signatureType }, null, loadNames);
                var info = Construct(infoCtor, attr, null, null, LoadEntry, true);
                // throwOnError: true makes ML.NET refuse a signature some other component already maps.
                Invoke(addClass, catalog, info, loadNames, true);
                done.Add(format.LoaderSignature);
            }
        }
    }

    // ------------------------------------------------------------------ save

    /// <summary>
    /// Writes a transformer into <paramref name="ctx"/> (call from ICanSaveModel.Save): version info, a small
    /// header produced by <paramref name="writeHeader"/>, and one binary stream per entry of
    /// <paramref name="streams"/>, each streamed straight to ML.NET's temp file (nothing is buffered here
    /// except the header). Stream names: letters, digits, '.', '_' or '-', unique ignoring case.
    /// </summary>
    internal static void SaveModel(ModelSaveContext ctx, MlNetModelFormat format, Action<BinaryWriter> writeHeader,
        IEnumerable<(string Name, Action<Stream> Write)> streams)
    {
        ArgumentNullException.ThrowIfNull(ctx);
        ArgumentNullException.ThrowIfNull(format);
        ArgumentNullException.ThrowIfNull(writeHeader);
        ArgumentNullException.ThrowIfNull(streams);
        format.Validate();
        var list = streams.ToList();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Model.key" }; // ML.NET's own stream name
        foreach (var (name, write) in list)
        {
            if (string.IsNullOrEmpty(name) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
                throw new ArgumentException($"Stream name '{name}' of loader '{format.LoaderSignature}' must be non-empty ASCII letters, digits, '.', '_' or '-'.", nameof(streams));
            if (!seen.Add(name))
                throw new ArgumentException($"Stream name '{name}' of loader '{format.LoaderSignature}' is reserved or used twice (names ignore case).", nameof(streams));
            ArgumentNullException.ThrowIfNull(write, $"{nameof(streams)}[{name}]");
        }

        var versionInfo = Construct(VersionInfoCtor.Get(),
            format.ModelSignature, format.VerWritten, format.VerReadable, format.VerWeCanReadBack,
            // Loader assembly: required in practice. ML.NET 5.0.1's ModelHeader.TryValidate rejects a header that
            // has neither a string table nor an assembly name (it checks the tail position without seeking).
            // On load ML.NET calls Assembly.Load(name) and RegisterAssembly on it (which finds nothing to
            // register, see the top of this file). The simple name, without version, loads whichever
            // MLNetLlmClassifier the app has; if it has none, the user gets "Could not load file or assembly".
            typeof(MlNetInternals).Assembly.GetName().Name,
            format.LoaderSignature,
            null); // no alternative loader signature
        Invoke(SaveSetVersionInfo.Get(), ctx, versionInfo);
        var writer = (BinaryWriter)SaveWriter.Get().GetValue(ctx)!;

        byte[] header;
        using (var buffer = new MemoryStream())
        {
            using (var headerWriter = new BinaryWriter(buffer, Encoding.UTF8, leaveOpen: true))
            {
                writeHeader(headerWriter);
            }
            header = buffer.ToArray();
        }

        writer.Write(Magic);
        writer.Write(format.LoaderSignature);
        writer.Write(format.VerWritten);
        writer.Write(format.VerReadable);
        writer.Write(list.Count);
        foreach (var (name, _) in list)
            writer.Write(name);
        writer.Write((long)header.Length);
        writer.Write(header);

        var saveBinaryStream = SaveBinaryStream.Get();
        foreach (var (name, write) in list)
        {
            Action<BinaryWriter> fn = entryWriter =>
            {
                // The callee gets the entry's stream behind a guard that ignores Dispose: ML.NET flushes and
                // closes it afterwards, and a `using var sw = new StreamWriter(stream)` would otherwise break that.
                using var guarded = new NonClosingStream(entryWriter.BaseStream);
                write(guarded);
            };
            Invoke(saveBinaryStream, ctx, name, fn);
        }
    }

    // ------------------------------------------------------------------ load

    /// <summary>
    /// The static "Create" method ML.NET invokes (through LoadableClassInfo) for every one of our loader
    /// signatures. <paramref name="ctx"/> is a ModelLoadContext, typed object because that type is internal.
    /// </summary>
    internal static ITransformer LoadFromModelEntry(IHostEnvironment env, object ctx) => LoadFromModel(env, ctx);

    private static ITransformer LoadFromModel(IHostEnvironment env, object ctx)
    {
        var reader = (BinaryReader)LoadReader.Get().GetValue(ctx)!;
        string directory = (string?)LoadDirectory.Get().GetValue(ctx) ?? "";

        string magic = reader.ReadString();
        if (magic != Magic)
            throw new InvalidDataException($"Model directory '{directory}' uses an MLNetLlmClassifier loader signature but was not written by MLNetLlmClassifier.");
        string loaderSignature = reader.ReadString();
        if (!Formats.TryGetValue(loaderSignature, out var format))
            throw new InvalidOperationException($"Model directory '{directory}' needs the MLNetLlmClassifier loader '{loaderSignature}', which this build does not provide.");
        uint verWritten = reader.ReadUInt32();
        uint verReadable = reader.ReadUInt32();
        if (verReadable > format.VerWritten)
            throw new InvalidDataException($"Model directory '{directory}' ({loaderSignature}) was written by a newer MLNetLlmClassifier (format {verWritten:X8}, readable by {verReadable:X8} or later); this build reads up to {format.VerWritten:X8}. Upgrade MLNetLlmClassifier.");
        if (verWritten < format.VerWeCanReadBack)
            throw new InvalidDataException($"Model directory '{directory}' ({loaderSignature}) uses format {verWritten:X8}, older than the oldest this build reads ({format.VerWeCanReadBack:X8}).");

        int count = reader.ReadInt32();
        if (count < 0 || count > 1024)
            throw new InvalidDataException($"Model directory '{directory}' ({loaderSignature}) is corrupt: {count} streams.");
        var names = new string[count];
        for (int i = 0; i < count; i++)
            names[i] = reader.ReadString();
        long headerLength = reader.ReadInt64();
        if (headerLength < 0 || headerLength > int.MaxValue)
            throw new InvalidDataException($"Model directory '{directory}' ({loaderSignature}) is corrupt: header length {headerLength}.");
        byte[] header = reader.ReadBytes((int)headerLength);
        if (header.Length != headerLength)
            throw new InvalidDataException($"Model directory '{directory}' ({loaderSignature}) is truncated: header has {header.Length} of {headerLength} bytes.");

        var entries = StreamEntries(ctx, directory);
        ModelZipLimits.Check(directory, loaderSignature, names, entries);
        var modelReader = new MlNetModelReader(ctx, directory, loaderSignature, verWritten, names, header)
        {
            DeclaredLengths = entries.Where(e => e.StreamName is not null)
                .GroupBy(e => e.StreamName!, StringComparer.OrdinalIgnoreCase)
                .ToDictionary(g => g.Key, g => g.Max(e => e.Length), StringComparer.OrdinalIgnoreCase),
        };
        return format.Load(env, modelReader)
            ?? throw new InvalidOperationException($"The loader for '{loaderSignature}' returned null.");
    }

    /// <summary>
    /// The zip entries of the model file as its central directory declares them (nothing is extracted): name, declared
    /// uncompressed length, compressed length; and whether an entry lies in <paramref name="directory"/>.
    /// </summary>
    internal static IReadOnlyList<ModelZipEntry> StreamEntries(object ctx, string directory)
    {
        var repository = LoadRepository.Get().GetValue(ctx)
            ?? throw new InvalidDataException($"Model directory '{directory}' is not read from a model file.");
        var archive = (System.IO.Compression.ZipArchive)(RepositoryArchive.Get().GetValue(repository)
            ?? throw new InvalidDataException($"Model directory '{directory}': the model file is closed."));
        string prefix = directory.Replace('\\', '/').TrimEnd('/') + "/";
        return archive.Entries.Select(e =>
        {
            string name = e.FullName.Replace('\\', '/');
            bool inDirectory = name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase) && name.IndexOf('/', prefix.Length) < 0;
            return new ModelZipEntry(e.FullName, inDirectory ? name[prefix.Length..] : null, e.Length, e.CompressedLength);
        }).ToList();
    }

    /// <summary>ModelLoadContext.TryLoadBinaryStream: hands the named entry of the current directory to <paramref name="read"/>.</summary>
    internal static bool TryLoadBinaryStream(object ctx, string name, Action<Stream> read)
    {
        var method = LoadTryBinaryStream.Get();
        Action<BinaryReader> fn = entryReader => read(entryReader.BaseStream);
        return (bool)Invoke(method, ctx, name, fn)!;
    }

    // ------------------------------------------------------------------ schema shapes

    /// <summary>SchemaShape.Create(schema), internal in ML.NET 5 (see SchemaShapeHelper).</summary>
    internal static SchemaShape SchemaShapeFromSchema(DataViewSchema schema)
    {
        ArgumentNullException.ThrowIfNull(schema);
        return (SchemaShape)Invoke(SchemaShapeCreate.Get(), null, schema)!;
    }

    /// <summary>
    /// The GPU settings of an environment (MLContext.GpuDeviceId and FallbackToCpu, which ML.NET keeps on its internal host
    /// environments), read by name; (null, false) where they cannot be found.
    /// </summary>
    internal static (int? GpuDeviceId, bool FallbackToCpu) GpuSettings(IHostEnvironment env)
    {
        if (env is MLContext ml) return (ml.GpuDeviceId, ml.FallbackToCpu);
        var type = env.GetType();
        var gpu = type.GetProperty("GpuDeviceId", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(env) as int?;
        var fallback = type.GetProperty("FallbackToCpu", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)?.GetValue(env) as bool? ?? false;
        return (gpu, fallback);
    }

    /// <summary>The environment (the MLContext) behind a trainers catalog such as <c>mlContext.MulticlassClassification.Trainers</c>.</summary>
    internal static IHostEnvironment CatalogEnvironment(TrainCatalogBase.CatalogInstantiatorBase catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return (IHostEnvironment)InternalCatalogEnvironment.Get().GetValue(catalog)!;
    }

    // ------------------------------------------------------------------ reflection helpers

    /// <summary>A reflected member, or null with the description of what was looked for.</summary>
    private sealed record Member<T>(T? Value, string Description) where T : class
    {
        public T Get() => Value ?? throw new MissingMemberException(
            $"MLNetLlmClassifier needs the internal ML.NET {Description}, which Microsoft.ML {MlNetVersion} does not have. " +
            $"This build of MLNetLlmClassifier was made for Microsoft.ML {TestedMlNetVersion}: use that version, or an MLNetLlmClassifier release made for yours.");
    }

    /// <summary>Invokes without wrapping the callee's exceptions in TargetInvocationException.</summary>
    private static object? Invoke(MethodBase method, object? target, params object?[] args) =>
        method.Invoke(target, BindingFlags.DoNotWrapExceptions, binder: null, args, culture: null);

    private static object Construct(ConstructorInfo ctor, params object?[] args) =>
        ctor.Invoke(BindingFlags.DoNotWrapExceptions, binder: null, args, culture: null);

    private static Member<Type> FindType(string fullName) =>
        Found(Core.GetType(fullName), $"type {fullName}");

    private static Member<ConstructorInfo> FindCtor(Type? type, params (Type? Type, string Name)[] parameters) =>
        Found(type?.GetConstructors(Any).FirstOrDefault(c => c.GetParameters() is var ps && ps.Length == parameters.Length
                && ps.Zip(parameters).All(p => p.First.ParameterType == p.Second.Type && p.First.Name == p.Second.Name)),
            $"constructor {type?.Name ?? "?"}({string.Join(", ", parameters.Select(p => $"{p.Type?.Name ?? "?"} {p.Name}"))})");

    private static Member<MethodInfo> FindMethod(Type? type, string name, params Type?[] parameters) =>
        Found(type is not null && parameters.All(p => p is not null) ? type.GetMethod(name, Any, parameters!) : null,
            $"method {type?.Name ?? "?"}.{name}({string.Join(", ", parameters.Select(p => p?.Name ?? "?"))})");

    private static Member<FieldInfo> FindField(Type? type, string name) =>
        Found(type?.GetField(name, Any), $"field {type?.Name ?? "?"}.{name}");

    private static Member<T> Found<T>(T? value, string description) where T : class
    {
        if (value is null)
        {
            lock (Missing)
                Missing.Add(description);
        }
        return new Member<T>(value, description);
    }

    /// <summary>Write-through stream whose Dispose only flushes (the owner closes the real stream).</summary>
    private sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            inner.Flush();
            base.Dispose(disposing);
        }
    }
}

using System.Text.Json.Nodes;
using MLNetLlmClassifier.Checkpoints;
using MLNetLlmClassifier.Peft;
using MLNetLlmClassifier.Qwen3;
using MLNetLlmClassifier.Tests.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace MLNetLlmClassifier.Tests.Peft;

/// <summary>adapter_config.json + adapter_model.safetensors in the layout of Python peft: write, read, hand-made adapters, bad files.</summary>
[TestClass]
public class PeftAdapterFolderTests
{
    private static TinyModels _models = null!;

    [ClassInitialize]
    public static void Init(TestContext _) => _models = new TinyModels();

    [ClassCleanup]
    public static void Cleanup() => _models?.Dispose();

    [TestMethod]
    public void AnAdapterRoundTripsThroughThePeftFiles()
    {
        using var temp = new TempFolder();
        using var model = _models.NewBert();
        var config = LoraTests.Config(3) with { ModulesToSave = model.HeadModules, Bias = LoraBias.LoraOnly, Dropout = 0.05, UseRsLora = true, TaskType = "SEQ_CLS", BaseModelNameOrPath = "tiny-bert" };
        var lora = LoraModel.Attach(model.Module, config, seed: 4);
        LoraTests.Randomise(lora, 5);
        PeftAdapterFolder.Write(lora, temp.Path);

        var json = HfModelFolder.ReadJsonObject(temp.File(PeftAdapterFolder.ConfigFileName));
        Assert.AreEqual("LORA", json["peft_type"]!.GetValue<string>());
        Assert.AreEqual("SEQ_CLS", json["task_type"]!.GetValue<string>());
        Assert.AreEqual(3, json["r"]!.GetValue<int>());
        Assert.AreEqual("lora_only", json["bias"]!.GetValue<string>());
        CollectionAssert.AreEqual(new[] { "dense", "key", "query", "value" }, json["target_modules"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray(),
            "all-linear is written as the module names, as PEFT does");
        CollectionAssert.AreEqual(new[] { "classifier" }, json["modules_to_save"]!.AsArray().Select(n => n!.GetValue<string>()).ToArray());

        using (var file = SafeTensorsFile.Open(temp.File(PeftAdapterFolder.WeightsFileName)))
        {
            var names = file.Tensors.Select(t => t.Name).ToHashSet();
            // PEFT's saved names: no adapter name, the "base_model.model." prefix, an adapted Linear's bias as base_layer.bias, heads whole.
            Assert.IsTrue(names.Contains("base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight"));
            Assert.IsTrue(names.Contains("base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight"));
            Assert.IsTrue(names.Contains("base_model.model.bert.encoder.layer.0.attention.self.query.base_layer.bias"));
            Assert.IsTrue(names.Contains("base_model.model.classifier.weight") && names.Contains("base_model.model.classifier.bias"));
            Assert.AreEqual(3 * lora.Layers.Count + 2, names.Count, "lora_A, lora_B and the bias of each adapted Linear, and the head's two tensors");
            Assert.IsTrue(file.Tensors.All(t => t.DType == "F32"));
        }

        using var reloaded = _models.NewBert();
        var read = PeftAdapterFolder.Apply(reloaded.Module, reloaded.HeadModules, temp.Path);
        Assert.AreEqual(config.Rank, read.Config.Rank);
        Assert.AreEqual(config.Alpha, read.Config.Alpha);
        Assert.AreEqual(config.Dropout, read.Config.Dropout);
        Assert.AreEqual(config.Bias, read.Config.Bias);
        Assert.IsTrue(read.Config.UseRsLora);
        Assert.AreEqual("tiny-bert", read.Config.BaseModelNameOrPath);
        Assert.AreEqual(lora.Layers.Count, read.Layers.Count);
        for (int i = 0; i < lora.Layers.Count; i++)
        {
            Assert.AreEqual(lora.Layers[i].Name, read.Layers[i].Name);
            Assert.AreEqual(lora.Layers[i].Scaling, read.Layers[i].Scaling, "alpha/sqrt(r) with use_rslora");
            TensorAssert.SameBytes(lora.Layers[i].A.weight!, read.Layers[i].A.weight!, lora.Layers[i].Name + ".lora_A");
            TensorAssert.SameBytes(lora.Layers[i].B.weight!, read.Layers[i].B.weight!, lora.Layers[i].Name + ".lora_B");
        }
        var original = model.Module.state_dict();
        foreach (var (name, t) in reloaded.Module.state_dict())
            TensorAssert.SameBytes(original[name], t, name);
        CollectionAssert.AreEqual(LoraTests.Scores(model), LoraTests.Scores(reloaded));
    }

    /// <summary>Writes an adapter as Python peft would: its config fields (some this library does not know) and its key names.</summary>
    private static void WritePythonStyleAdapter(string folder, JsonObject config, IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, PeftAdapterFolder.ConfigFileName), config.ToJsonString());
        SafeTensorsFile.Save(Path.Combine(folder, PeftAdapterFolder.WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
    }

    private static JsonObject PythonConfig() => JsonNode.Parse("""
        {
          "alpha_pattern": {}, "auto_mapping": null, "base_model_name_or_path": "Qwen/Qwen3-0.6B", "bias": "none",
          "corda_config": null, "eva_config": null, "exclude_modules": null, "fan_in_fan_out": false, "inference_mode": true,
          "init_lora_weights": true, "layer_replication": null, "layers_pattern": null, "layers_to_transform": null,
          "loftq_config": {}, "lora_alpha": 4, "lora_bias": false, "lora_dropout": 0.05, "megatron_config": null,
          "megatron_core": "megatron.core", "modules_to_save": null, "peft_type": "LORA", "peft_version": "0.17.1", "qalora_group_size": 16,
          "r": 2, "rank_pattern": {"layers.1.self_attn.q_proj": 3}, "revision": null, "target_modules": ["q_proj"],
          "target_parameters": null, "task_type": "CAUSAL_LM", "trainable_token_indices": null, "use_dora": false, "use_qalora": false,
          "use_rslora": false
        }
        """)!.AsObject();

    [TestMethod]
    public void AHandMadePythonPeftAdapterLoadsAndAddsScaledBAx()
    {
        using var temp = new TempFolder();
        using var model = _models.NewQwen();
        var net = (Qwen3ForCausalLM)model.Module;
        using var g = new Generator(11);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        for (int layer = 0; layer < net.Config.NumHiddenLayers; layer++)
        {
            int r = layer == 1 ? 3 : 2; // rank_pattern gives layer 1's q_proj rank 3
            var q = net.model.layers[layer].self_attn.q_proj.weight!;
            string key = $"base_model.model.model.layers.{layer}.self_attn.q_proj";
            tensors.Add(new($"{key}.lora_A.weight", randn([r, q.shape[1]], generator: g)));
            tensors.Add(new($"{key}.lora_B.weight", randn([q.shape[0], r], generator: g)));
        }
        WritePythonStyleAdapter(temp.Path, PythonConfig(), tensors);

        var baseScores = LoraTests.Scores(model);
        var lora = PeftAdapterFolder.Apply(model.Module, model.HeadModules, temp.Path);
        Assert.AreEqual(net.Config.NumHiddenLayers, lora.Layers.Count);
        Assert.AreEqual(3, lora.Layers.Single(l => l.Name == "model.layers.1.self_attn.q_proj").Rank, "rank_pattern is honoured");
        Assert.AreEqual(2.0, lora.Layers[0].Scaling, "lora_alpha / r = 4 / 2");
        Assert.AreEqual(4.0 / 3, lora.Layers[1].Scaling, 1e-12);

        // One Linear by hand: q_proj(x) = W x + (alpha/r) B A x.
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        model.Module.eval();
        var qProj = net.model.layers[0].self_attn.q_proj;
        var x = randn([3, qProj.weight!.shape[1]], generator: g);
        var a = tensors[0].Value;
        var b = tensors[1].Value;
        var expected = nn.functional.linear(x, qProj.weight!) + 2.0 * nn.functional.linear(nn.functional.linear(x, a), b);
        var actual = qProj.call(x);
        Assert.IsTrue(actual.allclose(expected, rtol: 1e-5, atol: 1e-5), $"max difference {(actual - expected).abs().max().item<float>()}");
        Assert.IsFalse(baseScores.SequenceEqual(LoraTests.Scores(model)), "the adapter changes the scores");
    }

    [TestMethod]
    public void APythonSequenceClassificationAdapterLoadsItsHead()
    {
        using var temp = new TempFolder();
        using var model = _models.NewBert();
        var config = PythonConfig();
        config["task_type"] = "SEQ_CLS";
        config["target_modules"] = new JsonArray("query", "value");
        config["rank_pattern"] = new JsonObject();
        config["modules_to_save"] = new JsonArray("classifier", "score"); // PEFT adds both names for SEQ_CLS
        var head = model.Module.state_dict()["classifier.weight"];
        var newHead = full(head.shape, 0.5f);
        var tensors = new List<KeyValuePair<string, Tensor>> { new("base_model.model.classifier.weight", newHead), new("base_model.model.classifier.bias", zeros(head.shape[0])) };
        foreach (var (name, _) in model.Module.named_modules().Where(m => m.name.EndsWith(".query", StringComparison.Ordinal) || m.name.EndsWith(".value", StringComparison.Ordinal)))
        {
            var w = model.Module.state_dict()[name + ".weight"];
            tensors.Add(new($"base_model.model.{name}.lora_A.weight", zeros(2, w.shape[1])));
            tensors.Add(new($"base_model.model.{name}.lora_B.weight", zeros(w.shape[0], 2)));
        }
        WritePythonStyleAdapter(temp.Path, config, tensors);
        var lora = PeftAdapterFolder.Apply(model.Module, model.HeadModules, temp.Path);
        CollectionAssert.AreEqual(new[] { "classifier" }, lora.Config.ModulesToSave.ToArray(), "modules the model lacks (score) are dropped");
        TensorAssert.SameBytes(newHead, model.Module.state_dict()["classifier.weight"], "classifier.weight");
    }

    [TestMethod]
    public void BadAdapterFilesGiveOneLineErrorsNamingTheFileAndField()
    {
        void Expect(Action<JsonObject> editConfig, Func<List<KeyValuePair<string, Tensor>>, List<KeyValuePair<string, Tensor>>> editTensors, params string[] expected)
        {
            using var temp = new TempFolder();
            using var model = _models.NewQwen();
            var net = (Qwen3ForCausalLM)model.Module;
            var config = PythonConfig();
            config["rank_pattern"] = new JsonObject();
            editConfig(config);
            var tensors = Enumerable.Range(0, net.Config.NumHiddenLayers).SelectMany(layer =>
            {
                var q = net.model.layers[layer].self_attn.q_proj.weight!;
                string key = $"base_model.model.model.layers.{layer}.self_attn.q_proj";
                return new KeyValuePair<string, Tensor>[] { new($"{key}.lora_A.weight", zeros(2, q.shape[1])), new($"{key}.lora_B.weight", zeros(q.shape[0], 2)) };
            }).ToList();
            WritePythonStyleAdapter(temp.Path, config, editTensors(tensors));
            var e = Assert.Throws<Exception>(() => PeftAdapterFolder.Apply(model.Module, model.HeadModules, temp.Path));
            Assert.IsTrue(e is InvalidDataException or FileNotFoundException, e.GetType().Name + ": " + e.Message);
            Assert.IsFalse(e.Message.Contains('\n'), "one line: " + e.Message);
            foreach (var s in expected) StringAssert.Contains(e.Message, s);
        }
        static List<KeyValuePair<string, Tensor>> Same(List<KeyValuePair<string, Tensor>> t) => t;

        Expect(c => c["peft_type"] = "PREFIX_TUNING", Same, "adapter_config.json", "PREFIX_TUNING", "only LORA");
        Expect(c => c["use_dora"] = true, Same, "adapter_config.json", "use_dora");
        Expect(c => c["bias"] = "some", Same, "adapter_config.json", "bias");
        Expect(c => c["r"] = "eight", Same, "adapter_config.json", "wrong type");
        Expect(c => c.Remove("target_modules"), Same, "adapter_config.json", "target_modules");
        Expect(c => c["target_modules"] = new JsonArray("nothing_here"), Same, "adapter_config.json", "matches no Linear module");
        Expect(_ => { }, t => [.. t.Select(kv => kv.Key.EndsWith("layers.0.self_attn.q_proj.lora_A.weight", StringComparison.Ordinal) ? new(kv.Key, zeros(3, 7)) : kv)],
            "adapter_model.safetensors", "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "[3, 7]");
        Expect(_ => { }, t => [.. t.Where(kv => !kv.Key.Contains("layers.1.", StringComparison.Ordinal) || kv.Key.Contains("lora_A", StringComparison.Ordinal))],
            "adapter_model.safetensors", "has no tensor", "layers.1.self_attn.q_proj.lora_B.weight");
        Expect(_ => { }, t => [.. t, new("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", zeros(2, 2))],
            "k_proj.lora_A.weight", "no module that adapter_config.json targets");
        Expect(_ => { }, t => [.. t, new("base_model.model.nonsense.weight", zeros(2))], "nonsense.weight", "names no parameter");
    }
}

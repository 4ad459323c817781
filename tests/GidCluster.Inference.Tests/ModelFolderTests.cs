using System.Text.Json.Nodes;
using GidCluster.Inference.Models;
using static TorchSharp.torch;

namespace GidCluster.Inference.Tests;

public sealed class ModelFolderTests
{
    [Fact]
    public void A_saved_folder_loads_with_the_weights_it_was_saved_with()
    {
        using var dir = Paths.NewTempDir("gid-model-folder");
        var written = TinyModels.Write(dir.Path, seed: 5);
        using var model = ModelBundle.Load(dir.Path);
        Assert.Equal(written.Scales, model.Description.Scales);
        Assert.Equal([64, 48], model.Description.FrameSize);
        Assert.Equal(149, model.Description.PeriodFrames);
        Assert.NotNull(model.Stage2);
        // Same seed → same initial weights: the loaded VAE equals a fresh one built after the same seed.
        manual_seed(5);
        using var fresh = new GidCluster.Training.Models.AutoencoderKL(model.Description.Config.Vae);
        foreach (var ((name, a), (_, b)) in fresh.state_dict().Zip(model.Vae.state_dict()))
            Assert.True(a.eq(b).all().item<bool>(), name);
        Assert.All(model.Renderer.parameters(), p => Assert.False(p.requires_grad));
    }

    [Fact]
    public void A_stage_one_folder_denoises_slice_by_slice()
    {
        using var dir = Paths.NewTempDir("gid-model-folder");
        TinyModels.Write(dir.Path, stage: "ldm1");
        using var model = ModelBundle.Load(dir.Path);
        Assert.Null(model.Stage2);
        using var x = randn([1, .. model.LatentShape]);
        using var eps = model.PredictNoise(x, tensor(new long[] { 500 }), TinyModels.Picture(), ones(1, dtype: ScalarType.Bool));
        Assert.Equal(x.shape, eps.shape);
    }

    [Fact]
    public void Missing_files_and_foreign_checkpoints_are_named()
    {
        using var dir = Paths.NewTempDir("gid-model-folder");
        var e0 = Assert.Throws<DirectoryNotFoundException>(() => ModelBundle.Load(Path.Combine(dir.Path, "nope")));
        Assert.Contains("does not exist", e0.Message);
        var e1 = Assert.Throws<FileNotFoundException>(() => ModelBundle.Load(dir.Path));
        Assert.Contains("model.json", e1.Message);

        TinyModels.Write(dir.Path);
        File.Delete(Path.Combine(dir.Path, "renderer.pt"));
        var e2 = Assert.Throws<FileNotFoundException>(() => ModelBundle.Load(dir.Path));
        Assert.Contains("renderer.pt", e2.Message);

        // A VAE checkpoint where the renderer's should be: the keys do not fit.
        File.Copy(Path.Combine(dir.Path, "vae.pt"), Path.Combine(dir.Path, "renderer.pt"));
        var e3 = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(dir.Path));
        Assert.Contains("renderer.pt does not fit this model", e3.Message);
        Assert.Contains("missing key(s): encoder.", e3.Message);

        // A stage-1 checkpoint in a folder that says stage 2.
        using (var other = Paths.NewTempDir("gid-model-folder"))
        {
            TinyModels.Write(other.Path, stage: "ldm1");
            File.Copy(Path.Combine(other.Path, "renderer.pt"), Path.Combine(dir.Path, "renderer.pt"), overwrite: true);
            File.Copy(Path.Combine(other.Path, "ldm.pt"), Path.Combine(dir.Path, "ldm.pt"), overwrite: true);
        }
        var e4 = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(dir.Path));
        Assert.Contains("ldm.pt does not fit this model", e4.Message);

        // Wider channels than the config: shapes named.
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(dir.Path, "model.json")))!;
        json["ldm_stage"] = "ldm1";
        json["config"]!["renderer"]!["channels"] = new JsonArray(16, 16, 64);
        File.WriteAllText(Path.Combine(dir.Path, "model.json"), json.ToJsonString());
        var e5 = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(dir.Path));
        Assert.Contains("checkpoint has [32", e5.Message);

        File.WriteAllText(Path.Combine(dir.Path, "ldm.pt"), "not a pickle");
        json["config"]!["renderer"]!["channels"] = new JsonArray(16, 16, 32);
        File.WriteAllText(Path.Combine(dir.Path, "model.json"), json.ToJsonString());
        var e6 = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(dir.Path));
        Assert.Contains("ldm.pt is not a torch.save file", e6.Message);
    }

    [Theory]
    [InlineData("format", "\"gid-model/9\"", "format is 'gid-model/9'")]
    [InlineData("ldm_stage", "\"ldm3\"", "ldm_stage 'ldm3'")]
    [InlineData("scales", "[1, 2]", "scales must be 16 positive numbers")]
    [InlineData("frame_size", "[60, 48]", "frame_size must be [W, H], both positive multiples of 16")]
    [InlineData("fps", "\"fast\"", "'fps' is not a Double")]
    public void A_wrong_model_json_is_named(string key, string value, string expected)
    {
        using var dir = Paths.NewTempDir("gid-model-folder");
        TinyModels.Write(dir.Path);
        var path = Path.Combine(dir.Path, "model.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json[key] = JsonNode.Parse(value);
        File.WriteAllText(path, json.ToJsonString());
        var e = Assert.Throws<InvalidDataException>(() => ModelBundle.Load(dir.Path));
        Assert.Contains(path, e.Message);
        Assert.Contains(expected, e.Message);
    }
}

using GidCluster.Training.Models;

namespace GidCluster.Torch.Tests;

/// <summary>The shipped configs load and validate; overrides and bad values fail naming the key; saved configs reload.</summary>
public sealed class ModelConfigTests
{
    [Theory]
    [InlineData("tiny")]
    [InlineData("paper")]
    public void Shipped_configs_load_and_validate(string name)
    {
        var config = ModelConfig.Load(name);
        Assert.Equal(name, config.Name);
        Assert.Equal(8, config.Vae.DownFactor);
        Assert.Equal(1000, config.Unet.Timesteps);
        Assert.Equal(name == "paper" ? "bf16" : "fp32", config.Precision);
    }

    /// <summary>A config saved before the precision key existed reads as float32; the key overrides like any other.</summary>
    [Fact]
    public void Precision_defaults_to_fp32_and_overrides()
    {
        var old = System.Text.Json.Nodes.JsonNode.Parse(ModelConfig.Load("tiny").ToJson())!.AsObject();
        Assert.True(old.Remove("precision"));
        var json = old.ToJsonString();
        Assert.Equal("fp32", ModelConfig.Parse(json, "old config.json").Precision);
        Assert.Equal("bf16", ModelConfig.Load("tiny", ["precision=bf16"]).Precision);
    }

    [Fact]
    public void Overrides_change_values_and_saved_config_reloads()
    {
        var config = ModelConfig.Load("tiny", ["unet.channels=32", "unet.channel_mult=1,2,2", "unet.beta_schedule=linear", "renderer.perceptual_weight=0.5"]);
        Assert.Equal(32, config.Unet.Channels);
        Assert.Equal([1L, 2, 2], config.Unet.ChannelMult);
        Assert.Equal("linear", config.Unet.BetaSchedule);
        Assert.Equal(0.5, config.Renderer.PerceptualWeight);
        using var dir = Paths.NewTempDir("gid-config");
        var path = config.SaveTo(dir.Path);
        Assert.Equal(config.ToJson(), ModelConfig.Load(path).ToJson());
    }

    [Theory]
    [InlineData("unet.chanels=32", "unet.chanels", "no such key")]
    [InlineData("unet.channels=abc", "unet.channels", "not a number")]
    [InlineData("unet.channels=12", "unet.channel_mult", "norm_groups")]
    [InlineData("unet.cond_dropout=1.5", "unet.cond_dropout", "outside")]
    [InlineData("unet.beta_schedule=cosine", "unet.beta_schedule", "cosine")]
    [InlineData("vae.channel_mult=1,2", "unet.down_factor", "down factor")]
    [InlineData("renderer.blocks=1,1", "renderer.blocks", "renderer.channels has 3")]
    [InlineData("nosection.x=1", "nosection.x", "not a config section")]
    [InlineData("precision=fp8", "precision", "'fp8' is not one of fp32, bf16")]
    [InlineData("unet.bins_per_slice=3", "unet.bins_per_slice", "does not divide unet.frequencies 16")]
    [InlineData("unet.cond_film=maybe", "unet.cond_film", "'maybe' is not true or false")]
    public void Bad_values_name_the_key(string assignment, string key, string problem)
    {
        var error = Assert.Throws<ConfigException>(() => ModelConfig.Load("tiny", [assignment]));
        Assert.Equal(key, error.Key);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void Unknown_config_name_lists_the_shipped_ones()
    {
        var error = Assert.Throws<FileNotFoundException>(() => ModelConfig.Load("huge"));
        Assert.Contains("tiny", error.Message);
        Assert.Throws<ArgumentException>(() => ModelConfig.Load("tiny", ["novalue"]));
    }
}

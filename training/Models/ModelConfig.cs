using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using GidCluster.Training.Tensors;

namespace GidCluster.Training.Models;

/// <summary>The KL autoencoder over one normalized frequency slice <c>[4, H, W]</c> (8× down for 4 levels).</summary>
public sealed record VaeConfig(long InChannels, long LatentChannels, long Channels, long[] ChannelMult, long NumResBlocks,
    long NormGroups, long AttentionHeads, double KlWeight, double GradientWeight, long GradientScales)
{
    /// <summary>Spatial down factor: 2 per level after the first.</summary>
    [JsonIgnore] public long DownFactor => 1L << (ChannelMult.Length - 1);

    public void Validate()
    {
        ModelConfig.Positive("vae.in_channels", InChannels);
        ModelConfig.Positive("vae.latent_channels", LatentChannels);
        ModelConfig.Channels("vae", Channels, ChannelMult, NormGroups, AttentionHeads);
        ModelConfig.Positive("vae.num_res_blocks", NumResBlocks);
        ModelConfig.Positive("vae.gradient_scales", GradientScales);
        if (KlWeight < 0) throw new ConfigException("vae.kl_weight", $"{KlWeight} is negative");
        if (GradientWeight < 0) throw new ConfigException("vae.gradient_weight", $"{GradientWeight} is negative");
    }
}

/// <summary>The stage-1 U-Net (one slice's latent), its image condition and its noise schedule.</summary>
/// <param name="BinsPerSlice">
/// Frequency bins the U-Net denoises together as channels of one slice: 1 is the paper's design (a slice is one bin's
/// 4-channel latent, K slices); G &gt; 1 makes a slice G adjacent bins' latents (<c>G·Z</c> channels, K/G slices), so
/// stage 1 sees how energy spreads over bins and stage 2 attends across the K/G slices. A config saved before the key
/// existed reads as 1.
/// </param>
/// <param name="CondFilm">
/// Besides the paper's concatenation at the input, every down and up ResBlock scales and shifts its normalized features
/// per pixel from the picture's features (FiLM, <see cref="ImageFilm"/>). False (the paper's design) in the shipped
/// configs; a config saved before the key existed reads as false.
/// </param>
public sealed record UNetConfig(long LatentChannels, long CondChannels, long CondEncoderChannels, long Channels, long[] ChannelMult,
    long NumResBlocks, long[] AttentionLevels, long AttentionHeads, long NormGroups, long Frequencies, double CondDropout,
    long Timesteps, string BetaSchedule, double BetaStart, double BetaEnd, long DownFactor, long BinsPerSlice = 1, bool CondFilm = false)
{
    /// <summary>Slices per spectral volume: K / <see cref="BinsPerSlice"/>.</summary>
    [JsonIgnore] public long Slices => Frequencies / BinsPerSlice;

    public void Validate()
    {
        ModelConfig.Positive("unet.latent_channels", LatentChannels);
        ModelConfig.Positive("unet.cond_channels", CondChannels);
        ModelConfig.Positive("unet.cond_encoder_channels", CondEncoderChannels);
        ModelConfig.Channels("unet", Channels, ChannelMult, NormGroups, AttentionHeads);
        ModelConfig.Positive("unet.num_res_blocks", NumResBlocks);
        ModelConfig.Positive("unet.frequencies", Frequencies);
        if (BinsPerSlice <= 0 || Frequencies % BinsPerSlice != 0)
            throw new ConfigException("unet.bins_per_slice", $"{BinsPerSlice} does not divide unet.frequencies {Frequencies}");
        ModelConfig.Positive("unet.timesteps", Timesteps);
        foreach (var level in AttentionLevels)
            if (level < 0 || level >= ChannelMult.Length)
                throw new ConfigException("unet.attention_levels", $"level {level} is outside 0..{ChannelMult.Length - 1}");
        if (CondDropout is < 0 or >= 1) throw new ConfigException("unet.cond_dropout", $"{CondDropout} is outside [0, 1)");
        if (BetaSchedule is not ("linear" or "scaled_linear"))
            throw new ConfigException("unet.beta_schedule", $"'{BetaSchedule}' is not linear or scaled_linear");
        if (!(BetaStart > 0 && BetaStart < BetaEnd && BetaEnd < 1))
            throw new ConfigException("unet.beta_start", $"need 0 < beta_start ({BetaStart}) < beta_end ({BetaEnd}) < 1");
        if (DownFactor <= 0 || (DownFactor & (DownFactor - 1)) != 0)
            throw new ConfigException("unet.down_factor", $"{DownFactor} is not a power of two");
    }
}

/// <summary>Stage 2: frequency attention layers over the frozen stage-1 U-Net.</summary>
public sealed record Stage2Config(long AttentionHeads)
{
    public void Validate() => ModelConfig.Positive("stage2.attention_heads", AttentionHeads);
}

/// <summary>The renderer: feature pyramid (ResNet-34-style blocks per scale), softmax splatting, synthesis decoder.</summary>
public sealed record RendererConfig(long[] Channels, long[] Blocks, long NormGroups, double PerceptualWeight)
{
    public void Validate()
    {
        if (Channels.Length == 0) throw new ConfigException("renderer.channels", "is empty");
        if (Blocks.Length != Channels.Length)
            throw new ConfigException("renderer.blocks", $"has {Blocks.Length} entries, renderer.channels has {Channels.Length}");
        foreach (var c in Channels)
            if (c <= 0 || c % NormGroups != 0)
                throw new ConfigException("renderer.channels", $"{c} is not a positive multiple of norm_groups {NormGroups}");
        foreach (var b in Blocks) ModelConfig.Positive("renderer.blocks", b);
        if (PerceptualWeight < 0) throw new ConfigException("renderer.perceptual_weight", $"{PerceptualWeight} is negative");
    }
}

/// <summary>
/// A bad configuration value: names the key (dotted, as written in the file and on the command line). An
/// <see cref="ArgumentException"/>, so the CLI reports it as bad input in one line rather than as an internal error.
/// </summary>
public sealed class ConfigException(string key, string problem) : ArgumentException($"config key '{key}': {problem}")
{
    public string Key { get; } = key;
}

/// <summary>
/// All model sizes of one run, and the precision its training runs the forward pass in, read from
/// <c>Configs/NAME.json</c> (snake_case keys), overridable with <c>section.key=value</c> strings (<c>precision=bf16</c>
/// at the top level), validated before any model is built, and saved next to checkpoints. A saved config without
/// <c>precision</c> (written before it existed) reads as fp32.
/// </summary>
/// <param name="Precision">
/// <see cref="Autocast.Float32Precision"/> or <see cref="Autocast.BFloat16Precision"/>: training's forward pass under
/// <see cref="Autocast"/> (weights, optimizer state, EMA and checkpoints stay float32 either way).
/// </param>
public sealed record ModelConfig(string Name, VaeConfig Vae, UNetConfig Unet, Stage2Config Stage2, RendererConfig Renderer,
    string Precision = Autocast.Float32Precision)
{
    public const string FileName = "config.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        WriteIndented = true,
    };

    /// <summary>The configs shipped with the build (<c>Configs/*.json</c> beside the assembly).</summary>
    public static string ConfigDirectory => Path.Combine(AppContext.BaseDirectory, "Configs");

    /// <summary>A shipped config by name (<c>tiny</c>, <c>paper</c>) or a path to a JSON file, with overrides applied.</summary>
    public static ModelConfig Load(string nameOrPath, IEnumerable<string>? overrides = null)
    {
        var path = File.Exists(nameOrPath) ? nameOrPath : Path.Combine(ConfigDirectory, nameOrPath + ".json");
        if (!File.Exists(path))
        {
            var known = Directory.Exists(ConfigDirectory) ? string.Join(", ", Directory.GetFiles(ConfigDirectory, "*.json").Select(Path.GetFileNameWithoutExtension)) : "none";
            throw new FileNotFoundException($"config '{nameOrPath}' is neither a file nor a shipped config (shipped: {known})", path);
        }
        return Parse(File.ReadAllText(path), path, overrides);
    }

    /// <summary>Parses JSON text (named <paramref name="source"/> in errors), applies overrides, validates.</summary>
    public static ModelConfig Parse(string json, string source, IEnumerable<string>? overrides = null)
    {
        JsonObject root;
        try
        {
            root = JsonNode.Parse(json) as JsonObject ?? throw new InvalidDataException($"config {source}: the top level is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"config {source}: not valid JSON: {e.Message}", e);
        }
        foreach (var o in overrides ?? [])
            ApplyOverride(root, o);
        ModelConfig config;
        try
        {
            config = root.Deserialize<ModelConfig>(Json) ?? throw new InvalidDataException($"config {source} is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"config {source}: {e.Message}", e);
        }
        config.Validate();
        return config;
    }

    public void Validate()
    {
        if (Vae is null || Unet is null || Stage2 is null || Renderer is null)
            throw new ConfigException("(top level)", "needs the sections vae, unet, stage2 and renderer");
        if (!Autocast.Precisions.Contains(Precision))
            throw new ConfigException("precision", $"'{Precision}' is not one of {string.Join(", ", Autocast.Precisions)}");
        Vae.Validate();
        Unet.Validate();
        Stage2.Validate();
        Renderer.Validate();
        if (Unet.LatentChannels != Vae.LatentChannels)
            throw new ConfigException("unet.latent_channels", $"{Unet.LatentChannels} differs from vae.latent_channels {Vae.LatentChannels}");
        if (Unet.DownFactor != Vae.DownFactor)
            throw new ConfigException("unet.down_factor", $"{Unet.DownFactor} differs from the VAE's down factor {Vae.DownFactor} (2^(len(vae.channel_mult)−1))");
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Writes <c>config.json</c> into <paramref name="directory"/> (beside the checkpoints) and returns its path.</summary>
    public string SaveTo(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        File.WriteAllText(path, ToJson());
        return path;
    }

    /// <summary>
    /// Applies <c>section.key=value</c>: the key must exist; the value must have the kind of the value it
    /// replaces (number, string, boolean, or a JSON/comma-separated list of numbers).
    /// </summary>
    public static void ApplyOverride(JsonObject root, string assignment)
    {
        var eq = assignment.IndexOf('=');
        if (eq <= 0) throw new ArgumentException($"override '{assignment}' is not key=value");
        var key = assignment[..eq].Trim();
        var text = assignment[(eq + 1)..].Trim();
        var parts = key.Split('.');
        JsonObject node = root;
        for (var i = 0; i < parts.Length - 1; i++)
            node = node[parts[i]] as JsonObject ?? throw new ConfigException(key, $"'{parts[i]}' is not a config section");
        var leaf = parts[^1];
        if (!node.TryGetPropertyValue(leaf, out var old) || old is null)
            throw new ConfigException(key, "no such key");
        node[leaf] = old.GetValueKind() switch
        {
            JsonValueKind.Number => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                ? JsonNode.Parse(text) : throw new ConfigException(key, $"'{text}' is not a number"),
            JsonValueKind.String => JsonValue.Create(text),
            JsonValueKind.True or JsonValueKind.False => bool.TryParse(text, out var b) ? JsonValue.Create(b) : throw new ConfigException(key, $"'{text}' is not true or false"),
            JsonValueKind.Array => NumberList(key, text),
            var kind => throw new ConfigException(key, $"is a {kind}, which cannot be overridden as a whole"),
        };
    }

    private static JsonArray NumberList(string key, string text)
    {
        var items = text.Trim('[', ']').Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var list = new JsonArray();
        foreach (var item in items)
            list.Add(double.TryParse(item, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                ? JsonNode.Parse(item) : throw new ConfigException(key, $"list item '{item}' is not a number"));
        return list;
    }

    internal static void Positive(string key, long value)
    {
        if (value <= 0) throw new ConfigException(key, $"{value} is not positive");
    }

    internal static void Channels(string section, long channels, long[] mult, long groups, long heads)
    {
        if (mult is null || mult.Length == 0) throw new ConfigException(section + ".channel_mult", "is empty");
        Positive(section + ".norm_groups", groups);
        Positive(section + ".attention_heads", heads);
        foreach (var m in mult)
        {
            var c = channels * m;
            if (m <= 0 || c % groups != 0)
                throw new ConfigException(section + ".channel_mult", $"multiplier {m} gives {c} channels, not a positive multiple of norm_groups {groups}");
            if (c % heads != 0)
                throw new ConfigException(section + ".attention_heads", $"{heads} heads do not divide {c} channels");
        }
    }
}

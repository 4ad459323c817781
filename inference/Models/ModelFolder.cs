using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using GidCluster.Dataprep.Samples;
using GidCluster.Training.Models;

namespace GidCluster.Inference.Models;

/// <summary>Which run produced each checkpoint of a model folder (null: made outside the cluster).</summary>
public sealed record ModelRuns(
    [property: JsonPropertyName("vae")] string? Vae,
    [property: JsonPropertyName("ldm")] string? Ldm,
    [property: JsonPropertyName("renderer")] string? Renderer);

/// <summary>
/// <c>model.json</c> of a model folder (the contract shared with training, <c>gid-model/1</c>): the resolved
/// config, which diffusion stage <c>ldm.pt</c> holds, the dataset's normalization scales s_k and bin
/// frequencies, the frame rate and the frame size the models were trained at.
/// </summary>
public sealed record ModelDescription(
    string Format,
    ModelConfig Config,
    string LdmStage,
    float[] Scales,
    double[] FrequenciesHz,
    double Fps,
    int[] FrameSize,
    ModelRuns Runs)
{
    public const string FormatName = "gid-model/1";
    public const string FileName = "model.json";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    [JsonIgnore] public int Width => FrameSize[0];
    [JsonIgnore] public int Height => FrameSize[1];

    /// <summary>Reads and checks <c>DIR/model.json</c>; every problem names the file and the key.</summary>
    public static ModelDescription Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"model folder {directory} does not exist");
        if (!File.Exists(path))
            throw new FileNotFoundException($"model folder {directory} has no {FileName} (is it a model folder? `gid checkpoints pull RUN --out DIR` writes one)", path);
        JsonObject root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: the top level is not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}", e);
        }
        var format = root["format"]?.GetValueKind() == JsonValueKind.String ? root["format"]!.GetValue<string>() : null;
        if (format != FormatName)
            throw new InvalidDataException($"{path}: format is '{format ?? "(none)"}', this build reads '{FormatName}'");
        var configNode = root["config"] as JsonObject ?? throw new InvalidDataException($"{path}: no 'config' object");
        var config = ModelConfig.Parse(configNode.ToJsonString(), path + " (config)");
        ModelDescription d;
        try
        {
            d = new ModelDescription(format, config,
                Required<string>(root, "ldm_stage", path),
                Required<float[]>(root, "scales", path),
                Required<double[]>(root, "frequencies_hz", path),
                Required<double>(root, "fps", path),
                Required<int[]>(root, "frame_size", path),
                root["runs"]?.Deserialize<ModelRuns>(Json) ?? new ModelRuns(null, null, null));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
        d.Validate(path);
        return d;
    }

    private static T Required<T>(JsonObject root, string key, string path)
    {
        var node = root[key] ?? throw new InvalidDataException($"{path}: no '{key}'");
        try
        {
            return node.Deserialize<T>(Json) ?? throw new InvalidDataException($"{path}: '{key}' is null");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: '{key}' is not a {typeof(T).Name}: {e.Message}", e);
        }
    }

    private void Validate(string path)
    {
        var k = Config.Unet.Frequencies;
        if (LdmStage is not ("ldm1" or "ldm2"))
            throw new InvalidDataException($"{path}: ldm_stage '{LdmStage}' is not ldm1 or ldm2");
        if (Scales.Length != k || Scales.Any(s => !(s > 0) || !float.IsFinite(s)))
            throw new InvalidDataException($"{path}: scales must be {k} positive numbers (unet.frequencies), got {Scales.Length}");
        if (k != SpectralNormalization.Bins)
            throw new InvalidDataException($"{path}: unet.frequencies is {k}; spectral volumes have {SpectralNormalization.Bins} bins");
        if (FrequenciesHz.Length != k || FrequenciesHz.Any(f => !(f >= 0) || !double.IsFinite(f)))
            throw new InvalidDataException($"{path}: frequencies_hz must be {k} non-negative numbers, got {FrequenciesHz.Length}");
        if (!(Fps > 0) || !double.IsFinite(Fps))
            throw new InvalidDataException($"{path}: fps {Fps} is not positive");
        var multiple = Config.Vae.DownFactor << (Config.Unet.ChannelMult.Length - 1);
        if (FrameSize.Length != 2 || FrameSize.Any(s => s <= 0 || s % multiple != 0))
            throw new InvalidDataException($"{path}: frame_size must be [W, H], both positive multiples of {multiple} (VAE × U-Net down factors), got [{string.Join(", ", FrameSize)}]");
    }

    /// <summary>Writes <c>DIR/model.json</c> (tests and tools that assemble a folder).</summary>
    public void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var root = JsonSerializer.SerializeToNode(this with { Config = null! }, Json)!.AsObject();
        root["config"] = JsonNode.Parse(Config.ToJson());
        File.WriteAllText(Path.Combine(directory, FileName), root.ToJsonString(Json));
    }

    /// <summary>The period N of the spectral decomposition, in frames, from bin 1's frequency: f_k = k·fps/N.</summary>
    [JsonIgnore]
    public int PeriodFrames => FrequenciesHz.Length > 1 && FrequenciesHz[1] > 0
        ? (int)Math.Round(Fps / FrequenciesHz[1])
        : throw new InvalidDataException("frequencies_hz[1] must be positive to give the period");
}

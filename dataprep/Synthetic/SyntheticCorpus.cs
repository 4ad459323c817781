using System.Text.Json.Serialization;

namespace GidCluster.Dataprep.Synthetic;

/// <summary>
/// Which appearance sets which part of the motion in a corpus: a comma list of mappings
/// <c>APPEARANCE-MOTION</c>, at most one per motion attribute. Motion no mapping sets is random
/// per object (learnable only as the dataset's average).
/// </summary>
public sealed record CorpusRule
{
    public const string Default = "hue-frequency,size-amplitude,orientation-direction";

    /// <summary>Every mapping there is, with what it does.</summary>
    public static readonly IReadOnlyDictionary<string, string> Known = new Dictionary<string, string>
    {
        ["hue-frequency"] = "hue class c → frequency bin [2,5,8,11,14][c]",
        ["size-frequency"] = "size class c → frequency bin [14,11,8,5,2][c] (longer sways slower)",
        ["hue-amplitude"] = "hue class c → tip amplitude 0.6 + 0.6·c px (±5%)",
        ["size-amplitude"] = "length L → tip amplitude 0.6 + 2.4·(L − 44)/60 px (±5%)",
        ["orientation-direction"] = "sway across the object's axis (direction = axis lean)",
    };

    private CorpusRule(IReadOnlyList<string> mappings) => Mappings = mappings;

    [JsonPropertyName("mappings")] public IReadOnlyList<string> Mappings { get; }

    /// <summary>"hue", "size" or null (random).</summary>
    public string? FrequencyFrom => From("frequency");
    public string? AmplitudeFrom => From("amplitude");
    public bool DirectionFromOrientation => From("direction") == "orientation";

    private string? From(string motion) =>
        Mappings.Select(m => m.Split('-')).Where(p => p[1] == motion).Select(p => p[0]).FirstOrDefault();

    /// <summary>Parses a comma list; throws <see cref="ArgumentException"/> naming an unknown or conflicting mapping.</summary>
    public static CorpusRule Parse(string text)
    {
        var mappings = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => m.ToLowerInvariant()).ToList();
        if (mappings.Count == 0)
            throw new ArgumentException($"rule '{text}' names no mapping; known: {string.Join(", ", Known.Keys)}");
        foreach (var m in mappings)
        {
            if (!Known.ContainsKey(m))
                throw new ArgumentException($"unknown rule '{m}'; known: {string.Join(", ", Known.Keys)}");
        }
        foreach (var group in mappings.GroupBy(m => m.Split('-')[1]))
        {
            if (group.Count() > 1)
                throw new ArgumentException($"rule '{text}' sets the {group.Key} twice ({string.Join(", ", group)})");
        }
        return new CorpusRule(mappings);
    }

    public override string ToString() => string.Join(",", Mappings);
}

/// <summary>One object's appearance and true motion (the corpus sidecar; what evaluation compares predictions with).</summary>
/// <param name="Region">Index of the object's layer in the scene.</param>
/// <param name="DominantBin">The DFT bin (N = 149 frames at 30 fps, K = 16) of the object's main oscillation.</param>
/// <param name="AmplitudePx">Peak displacement of the main oscillation where the object's weight is 1 (its tip).</param>
/// <param name="MeanAmplitudePx">Amplitude averaged over the object's rest mask (its weight varies from 0 at the base to 1 at the tip).</param>
/// <param name="DirectionDeg">The sway axis in image coordinates (x right, y down), in [0, 180).</param>
/// <param name="Bounds">The rest shape's bounding box x0, y0, x1, y1.</param>
public sealed record CorpusObject(
    [property: JsonPropertyName("region")] int Region,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("hue_deg")] double HueDeg,
    [property: JsonPropertyName("hue_class")] int HueClass,
    [property: JsonPropertyName("size_class")] int SizeClass,
    [property: JsonPropertyName("length_px")] double LengthPx,
    [property: JsonPropertyName("width_px")] double WidthPx,
    [property: JsonPropertyName("axis_deg")] double AxisDeg,
    [property: JsonPropertyName("dominant_bin")] int DominantBin,
    [property: JsonPropertyName("frequency_hz")] double FrequencyHz,
    [property: JsonPropertyName("amplitude_px")] double AmplitudePx,
    [property: JsonPropertyName("mean_amplitude_px")] double MeanAmplitudePx,
    [property: JsonPropertyName("direction_deg")] double DirectionDeg,
    [property: JsonPropertyName("phase_rad")] double PhaseRad,
    [property: JsonPropertyName("flutter_bin")] int FlutterBin,
    [property: JsonPropertyName("flutter_amplitude_px")] double FlutterAmplitudePx,
    [property: JsonPropertyName("pixels")] int Pixels,
    [property: JsonPropertyName("bounds")] double[] Bounds);

/// <summary>The corpus part of a sidecar: the rule in force and every object's truth.</summary>
public sealed record CorpusTruth(
    [property: JsonPropertyName("rule")] string Rule,
    [property: JsonPropertyName("mappings")] IReadOnlyDictionary<string, string> Mappings,
    [property: JsonPropertyName("objects")] IReadOnlyList<CorpusObject> Objects);

/// <summary>
/// The learnable synthetic corpus: scenes of stalks, leaves and flames (<see cref="BendingObject"/>)
/// on a static textured background whose motion follows their appearance by a
/// <see cref="CorpusRule"/>, with per-scene randomness in layout, phase, a weak second
/// oscillation ("flutter", 8–15% of the amplitude at another bin) and sensor noise.
/// Main oscillations sit on bins 2, 5, 8, 11, 14 (0.4–2.8 Hz at 30 fps over N = 149): three
/// bins apart, so a prediction within ±1 bin names one class.
/// </summary>
public static class SyntheticCorpus
{
    public static readonly int[] FrequencyBins = [2, 5, 8, 11, 14];
    public static readonly double[] HueCenters = [0, 55, 120, 200, 280];
    public const double HueJitter = 10;
    public const double MinLength = 44, SizeClassStep = 12, MinAmplitude = 0.6, MaxAmplitude = 3.0;
    public const int Classes = 5;
    public const double DefaultNoiseSigma = 1.0;

    /// <summary>A seeded corpus scene with <paramref name="objects"/> objects (fewer if they do not fit; the scene's notes say so).</summary>
    public static (SyntheticScene Scene, CorpusTruth Truth) Scene(int seed, CorpusRule rule, int width = 256, int height = 160, int frames = 160,
        int objects = 4, double noiseSigma = DefaultNoiseSigma, double fps = 30, int n = 149)
    {
        if (width < 64 || height < 64)
            throw new ArgumentException($"a corpus scene needs at least 64x64 pixels, not {width}x{height}");
        var rng = new Random(seed);
        var placed = ScenePlacement.Place(objects, width, height,
            scale => Propose(rng, scale, width, height),
            o => o.Bounds(),
            o =>
            {
                var hueClass = rng.Next(Classes);
                var hue = (HueCenters[hueClass] + HueJitter * (2 * rng.NextDouble() - 1) + 360) % 360;
                var (moving, motion) = Motion(rng, rule, o with { Texture = SyntheticScene.Texture(rng, 8, wavelengthScale: 0.6), Tint = Tint(hue) }, hueClass, fps, n);
                return (Object: moving, Motion: motion, Look: (hue, hueClass));
            },
            gap: 12, out var notes); // more than twice the largest displacement (3 px + flutter): objects never overlap
        var scene = new SyntheticScene(seed, width, height, fps, frames, SyntheticScene.Texture(rng, 10, wavelengthScale: 1.5, contrast: 0.6),
            placed.Select(p => (Layer)p.Object).ToList())
        {
            NoiseSigma = noiseSigma,
            Notes = notes,
        };
        var truth = placed.Select((p, r) => Truth(scene, r, p.Motion, p.Look)).ToList();
        return (scene, new CorpusTruth(rule.ToString(), rule.Mappings.ToDictionary(m => m, m => CorpusRule.Known[m]), truth));
    }

    /// <summary>A random object shape (kind, size, lean, position), not yet textured or moving.</summary>
    private static BendingObject Propose(Random rng, double scale, int width, int height)
    {
        var kind = BendingObject.Kinds[rng.Next(BendingObject.Kinds.Length)];
        var sizeClass = rng.Next(Classes);
        var length = scale * (MinLength + SizeClassStep * (sizeClass + 0.15 + 0.7 * rng.NextDouble()));
        var objectWidth = kind switch
        {
            "stalk" => 12 + 6 * rng.NextDouble(),
            "leaf" => length * (0.35 + 0.15 * rng.NextDouble()),
            _ => length * (0.4 + 0.15 * rng.NextDouble()),
        };
        var lean = kind == "flame" ? 10 : 30;
        var axis = lean * (2 * rng.NextDouble() - 1);
        var curvature = (kind == "flame" ? 0.05 : 0.15) * (2 * rng.NextDouble() - 1);
        var shape = new BendingObject(kind, 0, 0, axis, length, objectWidth, curvature, [], [], [], []);
        // Anywhere its rest box lies at least 6 px inside the frame; ScenePlacement rejects boxes that do not fit.
        var (x0, y0, x1, y1) = shape.Bounds();
        var bx = 6 - x0 + rng.NextDouble() * Math.Max(0, width - 12 - (x1 - x0));
        var by = 6 - y0 + rng.NextDouble() * Math.Max(0, height - 12 - (y1 - y0));
        return shape with { BaseX = bx, BaseY = by };
    }

    private static int SizeClass(double length) => Math.Clamp((int)Math.Floor((length - MinLength) / SizeClassStep), 0, Classes - 1);

    /// <summary>The object's oscillations by the rule (random where the rule is silent), plus flutter.</summary>
    private static (BendingObject Object, (int Bin, double Amplitude, double Direction, double Phase, int FlutterBin, double FlutterAmplitude) Motion) Motion(
        Random rng, CorpusRule rule, BendingObject o, int hueClass, double fps, int n)
    {
        var sizeClass = SizeClass(o.Length);
        var bin = rule.FrequencyFrom switch
        {
            "hue" => FrequencyBins[hueClass],
            "size" => FrequencyBins[Classes - 1 - sizeClass],
            _ => FrequencyBins[rng.Next(Classes)],
        };
        var jitter = 1 + 0.05 * (2 * rng.NextDouble() - 1);
        var amplitude = rule.AmplitudeFrom switch
        {
            "hue" => (MinAmplitude + 0.6 * hueClass) * jitter,
            "size" => (MinAmplitude + (MaxAmplitude - MinAmplitude) * Math.Clamp((o.Length - MinLength) / (Classes * SizeClassStep), 0, 1)) * jitter,
            _ => MinAmplitude + (MaxAmplitude - MinAmplitude) * rng.NextDouble(),
        };
        // Across the axis (sin a, −cos a) is (cos a, sin a): angle a in image coordinates.
        var direction = rule.DirectionFromOrientation ? o.AxisDeg : 180 * rng.NextDouble();
        var phase = (2 * rng.NextDouble() - 1) * Math.PI;
        var others = Enumerable.Range(1, 15).Where(k => Math.Abs(k - bin) >= 2).ToList();
        var flutterBin = others[rng.Next(others.Count)];
        var flutterAmplitude = amplitude * (0.08 + 0.07 * rng.NextDouble());
        var flutterDirection = 180 * rng.NextDouble();
        var flutterPhase = (2 * rng.NextDouble() - 1) * Math.PI;
        var x = new List<Oscillation>();
        var y = new List<Oscillation>();
        foreach (var (k, a, dir, ph) in new[] { (bin, amplitude, direction, phase), (flutterBin, flutterAmplitude, flutterDirection, flutterPhase) })
        {
            var rad = dir * Math.PI / 180;
            x.Add(Along(k * fps / n, a * Math.Cos(rad), ph));
            y.Add(Along(k * fps / n, a * Math.Sin(rad), ph));
        }
        return (o with { X = x, Y = y }, (bin, amplitude, ((direction % 180) + 180) % 180, phase, flutterBin, flutterAmplitude));
    }

    /// <summary>A signed amplitude as a positive one (a negative one is the same cosine half a turn later).</summary>
    private static Oscillation Along(double hz, double signedAmplitude, double phase) =>
        signedAmplitude >= 0 ? new(hz, signedAmplitude, phase) : new(hz, -signedAmplitude, Math.IEEERemainder(phase + Math.PI, 2 * Math.PI));

    private static CorpusObject Truth(SyntheticScene scene, int r, (int Bin, double Amplitude, double Direction, double Phase, int FlutterBin, double FlutterAmplitude) m,
        (double Hue, int HueClass) look)
    {
        var o = (BendingObject)scene.Regions[r];
        var (x0, y0, x1, y1) = o.Bounds();
        double weights = 0;
        var pixels = 0;
        for (var y = Math.Max(0, (int)y0); y <= Math.Min(scene.Height - 1, (int)Math.Ceiling(y1)); y++)
        {
            for (var x = Math.Max(0, (int)x0); x <= Math.Min(scene.Width - 1, (int)Math.Ceiling(x1)); x++)
            {
                if (o.ContainsRest(x, y))
                {
                    weights += o.Weight(x, y);
                    pixels++;
                }
            }
        }
        var mean = pixels > 0 ? weights / pixels : 0;
        return new CorpusObject(r, o.Kind, look.Hue, look.HueClass, SizeClass(o.Length), o.Length, o.Width, o.AxisDeg,
            m.Bin, m.Bin * scene.Fps / 149, m.Amplitude, m.Amplitude * mean, m.Direction, m.Phase, m.FlutterBin, m.FlutterAmplitude, pixels,
            [x0, y0, x1, y1]);
    }

    /// <summary>A saturated colour of the hue (HSV with S = 0.75) as a multiplier of the grey texture (~128 ± 70).</summary>
    private static double[] Tint(double hue)
    {
        const double s = 0.75, scale = 1.3;
        var h = hue / 60;
        var c = s;
        var x = c * (1 - Math.Abs(h % 2 - 1));
        var (r, g, b) = (int)Math.Floor(h) switch
        {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        var m = 1 - c;
        return [scale * (r + m), scale * (g + m), scale * (b + m)];
    }
}

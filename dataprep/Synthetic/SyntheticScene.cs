using System.Text.Json.Serialization;

namespace GidCluster.Dataprep.Synthetic;

/// <summary>One sinusoid of a region's displacement along one axis: A·cos(2π f τ + φ), τ in seconds.</summary>
public sealed record Oscillation(
    [property: JsonPropertyName("frequency_hz")] double FrequencyHz,
    [property: JsonPropertyName("amplitude_px")] double AmplitudePx,
    [property: JsonPropertyName("phase_rad")] double PhaseRad);

/// <summary>A plane wave of a procedural texture: a·sin(2π(u x + v y) + φ).</summary>
public sealed record Wave(
    [property: JsonPropertyName("u")] double U,
    [property: JsonPropertyName("v")] double V,
    [property: JsonPropertyName("amplitude")] double Amplitude,
    [property: JsonPropertyName("phase")] double Phase);

/// <summary>
/// A textured layer of a synthetic scene. It moves by w(q)·D(τ): D(τ) = (Σ x-oscillations,
/// Σ y-oscillations) is the layer's displacement where its weight is 1, and w(q) ∈ [0, 1] spreads
/// it smoothly over the layer (1 everywhere for a rigid layer). Shape and texture are given in the
/// layer's rest coordinates, so frame τ shows rest point q at q + w(q)·D(τ).
/// </summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "shape")]
[JsonDerivedType(typeof(Region), "ellipse")]
[JsonDerivedType(typeof(BendingObject), "bending")]
public abstract record Layer(
    [property: JsonPropertyName("texture")] IReadOnlyList<Wave> Texture,
    [property: JsonPropertyName("tint")] IReadOnlyList<double> Tint,
    [property: JsonPropertyName("x")] IReadOnlyList<Oscillation> X,
    [property: JsonPropertyName("y")] IReadOnlyList<Oscillation> Y)
{
    public (double X, double Y) Displacement(double seconds) => (Sum(X, seconds), Sum(Y, seconds));

    private static double Sum(IReadOnlyList<Oscillation> axis, double s)
    {
        double d = 0;
        foreach (var o in axis)
            d += o.AmplitudePx * Math.Cos(2 * Math.PI * o.FrequencyHz * s + o.PhaseRad);
        return d;
    }

    public abstract bool ContainsRest(double qx, double qy);

    /// <summary>Inside the shape shrunk by <paramref name="margin"/> pixels (away from occlusion edges).</summary>
    public abstract bool ContainsRestInterior(double qx, double qy, double margin);

    /// <summary>w(q): the share of D(τ) by which rest point q moves.</summary>
    public abstract double Weight(double qx, double qy);

    /// <summary>The rest shape's bounding box (x0, y0, x1, y1).</summary>
    public abstract (double X0, double Y0, double X1, double Y1) Bounds();

    /// <summary>
    /// The rest point q shown at pixel p when the layer is displaced by <paramref name="d"/>: the
    /// solution of q + w(q)·d = p, by fixed-point iteration (a contraction: |∇w|·|d| ≪ 1 for
    /// displacements of a few pixels over objects tens of pixels long).
    /// </summary>
    public virtual (double X, double Y) RestPoint(double px, double py, (double X, double Y) d)
    {
        double qx = px, qy = py;
        for (var i = 0; i < 6; i++)
        {
            var w = Weight(qx, qy);
            (qx, qy) = (px - w * d.X, py - w * d.Y);
        }
        return (qx, qy);
    }
}

/// <summary>An elliptic layer that moves rigidly (w = 1).</summary>
public sealed record Region(
    [property: JsonPropertyName("center_x")] double CenterX,
    [property: JsonPropertyName("center_y")] double CenterY,
    [property: JsonPropertyName("radius_x")] double RadiusX,
    [property: JsonPropertyName("radius_y")] double RadiusY,
    IReadOnlyList<Wave> Texture,
    IReadOnlyList<double> Tint,
    IReadOnlyList<Oscillation> X,
    IReadOnlyList<Oscillation> Y) : Layer(Texture, Tint, X, Y)
{
    public override bool ContainsRest(double qx, double qy)
    {
        var dx = (qx - CenterX) / RadiusX;
        var dy = (qy - CenterY) / RadiusY;
        return dx * dx + dy * dy <= 1;
    }

    public override bool ContainsRestInterior(double qx, double qy, double margin)
    {
        if (RadiusX <= margin || RadiusY <= margin)
            return false;
        var dx = (qx - CenterX) / (RadiusX - margin);
        var dy = (qy - CenterY) / (RadiusY - margin);
        return dx * dx + dy * dy <= 1;
    }

    public override double Weight(double qx, double qy) => 1;

    public override (double X0, double Y0, double X1, double Y1) Bounds() => (CenterX - RadiusX, CenterY - RadiusY, CenterX + RadiusX, CenterY + RadiusY);

    public override (double X, double Y) RestPoint(double px, double py, (double X, double Y) d) => (px - d.X, py - d.Y);
}

/// <summary>
/// A procedurally textured scene with a static background and moving layers (rigid ellipses or
/// bending objects), rendered exactly: every pixel evaluates the analytic texture at its
/// backward-warped rest point (no resampling of images), so the displacement fields are known exactly.
/// </summary>
public sealed record SyntheticScene(
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("width")] int Width,
    [property: JsonPropertyName("height")] int Height,
    [property: JsonPropertyName("fps")] double Fps,
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("background")] IReadOnlyList<Wave> Background,
    [property: JsonPropertyName("regions")] IReadOnlyList<Layer> Regions)
{
    /// <summary>Standard deviation (grey levels) of the Gaussian sensor noise added to every frame, seeded by (seed, frame); 0 = none.</summary>
    [JsonPropertyName("noise_sigma")] public double NoiseSigma { get; init; }

    /// <summary>What the generator had to give up (fewer layers than asked, say).</summary>
    [JsonPropertyName("notes")] public IReadOnlyList<string> Notes { get; init; } = [];

    /// <summary>
    /// A seeded random scene: <paramref name="regions"/> non-overlapping ellipses, each axis a sum of
    /// 1–2 oscillations with amplitudes 0.2–2.5 px (peak ≤ 5 px) at frequencies k·fps/N (bins
    /// k = 1…15, i.e. 0.2–3 Hz at 30 fps, N = 149), so the true spectrum sits exactly on DFT bins.
    /// When they do not fit, smaller ellipses are tried, then fewer (stated in <see cref="Notes"/>).
    /// </summary>
    public static SyntheticScene Random(int seed, int width = 256, int height = 160, int frames = 160, int regions = 3, double fps = 30, int n = 149)
    {
        var rng = new System.Random(seed);
        var placed = ScenePlacement.Place(regions, width, height,
            scale =>
            {
                var rx = scale * width * (0.10 + 0.08 * rng.NextDouble());
                var ry = scale * height * (0.14 + 0.10 * rng.NextDouble());
                var cx = rx + 8 + rng.NextDouble() * (width - 2 * rx - 16);
                var cy = ry + 8 + rng.NextDouble() * (height - 2 * ry - 16);
                return (cx, cy, rx, ry);
            },
            e => (e.cx - e.rx, e.cy - e.ry, e.cx + e.rx, e.cy + e.ry),
            e => new Region(e.cx, e.cy, e.rx, e.ry, Texture(rng, 10), [0.8 + 0.2 * rng.NextDouble(), 0.8 + 0.2 * rng.NextDouble(), 0.8 + 0.2 * rng.NextDouble()],
                Axis(rng, fps, n), Axis(rng, fps, n)),
            gap: 12, out var notes); // more than twice the largest displacement: layers never overlap
        return new SyntheticScene(seed, width, height, fps, frames, Texture(rng, 10), placed) { Notes = notes };
    }

    private static List<Oscillation> Axis(System.Random rng, double fps, int n)
    {
        var count = rng.Next(1, 3);
        var bins = Enumerable.Range(1, 15).OrderBy(_ => rng.Next()).Take(count).ToList();
        return bins.Select(k => new Oscillation(k * fps / n, 0.2 + 2.3 * rng.NextDouble(), (rng.NextDouble() * 2 - 1) * Math.PI)).ToList();
    }

    /// <summary>A procedural texture of <paramref name="waves"/> plane waves with wavelengths 6–28 px (× <paramref name="wavelengthScale"/>).</summary>
    internal static List<Wave> Texture(System.Random rng, int waves, double wavelengthScale = 1, double contrast = 1)
    {
        var list = new List<Wave>();
        for (var i = 0; i < waves; i++)
        {
            var wavelength = wavelengthScale * (6 + 22 * rng.NextDouble());
            var angle = rng.NextDouble() * Math.PI;
            list.Add(new Wave(Math.Cos(angle) / wavelength, Math.Sin(angle) / wavelength, contrast * 70.0 / waves * (0.6 + 0.8 * rng.NextDouble()), rng.NextDouble() * 2 * Math.PI));
        }
        return list;
    }

    private static double Evaluate(IReadOnlyList<Wave> texture, double x, double y)
    {
        double v = 128;
        foreach (var w in texture)
            v += w.Amplitude * Math.Sin(2 * Math.PI * (w.U * x + w.V * y) + w.Phase);
        return v;
    }

    /// <summary>
    /// The layer showing at pixel (x, y) of frame <paramref name="frame"/> (−1 = background) and the
    /// rest point it shows there. With <paramref name="interiorMargin"/> only a layer whose interior
    /// (at least that many px from its edge) covers the pixel counts.
    /// </summary>
    public (int Region, double Qx, double Qy) Locate(int frame, double x, double y, double? interiorMargin = null)
    {
        var time = frame / Fps;
        for (var r = 0; r < Regions.Count; r++)
        {
            var layer = Regions[r];
            var (qx, qy) = layer.RestPoint(x, y, layer.Displacement(time));
            if (interiorMargin is { } m ? layer.ContainsRestInterior(qx, qy, m) : layer.ContainsRest(qx, qy))
                return (r, qx, qy);
        }
        return (-1, x, y);
    }

    /// <summary>Which region shows at pixel (x, y) of frame <paramref name="frame"/> (−1 = background).</summary>
    public int RegionAt(int frame, double x, double y) => Locate(frame, x, y).Region;

    /// <summary>Renders frame <paramref name="frame"/> as RGB8 (H×W×3).</summary>
    public void Render(int frame, Span<byte> rgb)
    {
        if (rgb.Length != Width * Height * 3)
            throw new ArgumentException("wrong frame buffer size");
        var time = frame / Fps;
        var shifts = Regions.Select(r => r.Displacement(time)).ToArray();
        var boxes = Regions.Select(r => r.Bounds()).ToArray();
        var reach = shifts.Select(d => Math.Abs(d.X) + Math.Abs(d.Y) + 1).ToArray();
        var noise = NoiseSigma > 0 ? new System.Random(HashCode.Combine(Seed, frame)) : null;
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                var shown = false;
                for (var i = 0; i < Regions.Count && !shown; i++)
                {
                    // A pixel farther from a layer's rest box than its displacement cannot show it.
                    var (b, e) = (boxes[i], reach[i]);
                    if (x < b.X0 - e || x > b.X1 + e || y < b.Y0 - e || y > b.Y1 + e)
                        continue;
                    var (qx, qy) = Regions[i].RestPoint(x, y, shifts[i]);
                    if (Regions[i].ContainsRest(qx, qy))
                    {
                        Write(rgb, x, y, Evaluate(Regions[i].Texture, qx, qy), Regions[i].Tint, noise);
                        shown = true;
                    }
                }
                if (!shown)
                    Write(rgb, x, y, Evaluate(Background, x, y), null, noise);
            }
        }
    }

    private void Write(Span<byte> rgb, int x, int y, double v, IReadOnlyList<double>? tint, System.Random? noise)
    {
        var o = 3 * (y * Width + x);
        for (var c = 0; c < 3; c++)
        {
            var value = v * (tint?[c] ?? 1.0);
            if (noise != null)
                value += NoiseSigma * Gaussian(noise);
            rgb[o + c] = (byte)Math.Clamp(Math.Round(value), 0, 255);
        }
    }

    private static double Gaussian(System.Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>
    /// The exact flow from frame s to frame s+t at a pixel of frame s: w(q)·(D_r(s+t) − D_r(s)) on
    /// layer r (q the rest point shown there), 0 on the background.
    /// </summary>
    public (double X, double Y) TrueFlow(int start, int t, int x, int y)
    {
        var (r, qx, qy) = Locate(start, x, y);
        return r < 0 ? (0, 0) : Flow(r, Regions[r].Weight(qx, qy), start, t);
    }

    /// <summary>w·(D_r(s+t) − D_r(s)): the flow of a point of layer r with weight w.</summary>
    public (double X, double Y) Flow(int region, double weight, int start, int t)
    {
        var a = Regions[region].Displacement(start / Fps);
        var b = Regions[region].Displacement((start + t) / Fps);
        return (weight * (b.X - a.X), weight * (b.Y - a.Y));
    }

    /// <summary>
    /// The region whose interior (at least <paramref name="margin"/> px from its edge) covers pixel
    /// (x, y) of frame <paramref name="start"/>, or −1: where flow error is measured.
    /// </summary>
    public int InteriorRegionAt(int start, double x, double y, double margin) => Locate(start, x, y, margin).Region;

    /// <summary>
    /// The true spectral coefficients of region r for start frame s: the unnormalized DFT
    /// (numpy convention) over n = 0 … N−1 of F_{n+1} = D(s+n+1) − D(s), bins 0 … K−1, as (re, im) per axis.
    /// A pixel showing rest point q has w(q) times these (all of them on a rigid layer).
    /// </summary>
    public (double Re, double Im)[,] TrueCoefficients(int region, int start, int n = 149, int bins = 16)
    {
        var result = new (double, double)[2, bins];
        var reg = Regions[region];
        var d0 = reg.Displacement(start / Fps);
        for (var k = 0; k < bins; k++)
        {
            double rx = 0, ix = 0, ry = 0, iy = 0;
            for (var i = 0; i < n; i++)
            {
                var d = reg.Displacement((start + i + 1) / Fps);
                var angle = -2 * Math.PI * ((long)k * i % n) / n;
                var (c, s) = (Math.Cos(angle), Math.Sin(angle));
                rx += (d.X - d0.X) * c; ix += (d.X - d0.X) * s;
                ry += (d.Y - d0.Y) * c; iy += (d.Y - d0.Y) * s;
            }
            result[0, k] = (rx, ix);
            result[1, k] = (ry, iy);
        }
        return result;
    }
}

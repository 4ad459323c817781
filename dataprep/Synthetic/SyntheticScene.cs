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
/// An elliptic textured layer that moves rigidly by D(τ) = (Σ x-oscillations, Σ y-oscillations).
/// The ellipse and texture are given in the layer's rest coordinates, so frame τ shows layer
/// point q at q + D(τ).
/// </summary>
public sealed record Region(
    [property: JsonPropertyName("center_x")] double CenterX,
    [property: JsonPropertyName("center_y")] double CenterY,
    [property: JsonPropertyName("radius_x")] double RadiusX,
    [property: JsonPropertyName("radius_y")] double RadiusY,
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

    public bool ContainsRest(double qx, double qy)
    {
        var dx = (qx - CenterX) / RadiusX;
        var dy = (qy - CenterY) / RadiusY;
        return dx * dx + dy * dy <= 1;
    }

    /// <summary>Inside the ellipse shrunk by <paramref name="margin"/> pixels (away from occlusion edges).</summary>
    public bool ContainsRestInterior(double qx, double qy, double margin)
    {
        if (RadiusX <= margin || RadiusY <= margin)
            return false;
        var dx = (qx - CenterX) / (RadiusX - margin);
        var dy = (qy - CenterY) / (RadiusY - margin);
        return dx * dx + dy * dy <= 1;
    }
}

/// <summary>
/// A procedurally textured scene with a static background and oscillating elliptic regions,
/// rendered exactly: every pixel evaluates the analytic texture at its backward-warped position
/// (no resampling of images), so the displacement fields are known exactly.
/// </summary>
public sealed record SyntheticScene(
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("width")] int Width,
    [property: JsonPropertyName("height")] int Height,
    [property: JsonPropertyName("fps")] double Fps,
    [property: JsonPropertyName("frames")] int Frames,
    [property: JsonPropertyName("background")] IReadOnlyList<Wave> Background,
    [property: JsonPropertyName("regions")] IReadOnlyList<Region> Regions)
{
    /// <summary>
    /// A seeded random scene: <paramref name="regions"/> non-overlapping ellipses, each axis a sum of
    /// 1–2 oscillations with amplitudes 0.2–2.5 px (peak ≤ 5 px) at frequencies k·fps/N (bins
    /// k = 1…15, i.e. 0.2–3 Hz at 30 fps, N = 149), so the true spectrum sits exactly on DFT bins.
    /// </summary>
    public static SyntheticScene Random(int seed, int width = 256, int height = 160, int frames = 160, int regions = 3, double fps = 30, int n = 149)
    {
        var rng = new System.Random(seed);
        var placed = new List<Region>();
        for (var attempt = 0; placed.Count < regions && attempt < 1000; attempt++)
        {
            var rx = width * (0.10 + 0.08 * rng.NextDouble());
            var ry = height * (0.14 + 0.10 * rng.NextDouble());
            var cx = rx + 8 + rng.NextDouble() * (width - 2 * rx - 16);
            var cy = ry + 8 + rng.NextDouble() * (height - 2 * ry - 16);
            // Keep layers apart by more than twice the largest displacement so they never overlap.
            if (placed.Any(r => Math.Abs(r.CenterX - cx) < r.RadiusX + rx + 12 && Math.Abs(r.CenterY - cy) < r.RadiusY + ry + 12))
                continue;
            placed.Add(new Region(cx, cy, rx, ry, Texture(rng, 10), [0.8 + 0.2 * rng.NextDouble(), 0.8 + 0.2 * rng.NextDouble(), 0.8 + 0.2 * rng.NextDouble()],
                Axis(rng, fps, n), Axis(rng, fps, n)));
        }
        if (placed.Count < regions)
            throw new ArgumentException($"cannot place {regions} regions in {width}x{height}");
        return new SyntheticScene(seed, width, height, fps, frames, Texture(rng, 10), placed);
    }

    private static List<Oscillation> Axis(System.Random rng, double fps, int n)
    {
        var count = rng.Next(1, 3);
        var bins = Enumerable.Range(1, 15).OrderBy(_ => rng.Next()).Take(count).ToList();
        return bins.Select(k => new Oscillation(k * fps / n, 0.2 + 2.3 * rng.NextDouble(), (rng.NextDouble() * 2 - 1) * Math.PI)).ToList();
    }

    private static List<Wave> Texture(System.Random rng, int waves)
    {
        var list = new List<Wave>();
        for (var i = 0; i < waves; i++)
        {
            var wavelength = 6 + 22 * rng.NextDouble();
            var angle = rng.NextDouble() * Math.PI;
            list.Add(new Wave(Math.Cos(angle) / wavelength, Math.Sin(angle) / wavelength, 70.0 / waves * (0.6 + 0.8 * rng.NextDouble()), rng.NextDouble() * 2 * Math.PI));
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

    /// <summary>Which region shows at pixel (x, y) of frame <paramref name="frame"/> (−1 = background).</summary>
    public int RegionAt(int frame, double x, double y)
    {
        var time = frame / Fps;
        for (var r = 0; r < Regions.Count; r++)
        {
            var (dx, dy) = Regions[r].Displacement(time);
            if (Regions[r].ContainsRest(x - dx, y - dy))
                return r;
        }
        return -1;
    }

    /// <summary>Renders frame <paramref name="frame"/> as RGB8 (H×W×3).</summary>
    public void Render(int frame, Span<byte> rgb)
    {
        if (rgb.Length != Width * Height * 3)
            throw new ArgumentException("wrong frame buffer size");
        var time = frame / Fps;
        var shifts = Regions.Select(r => r.Displacement(time)).ToArray();
        for (var y = 0; y < Height; y++)
        {
            for (var x = 0; x < Width; x++)
            {
                double v;
                IReadOnlyList<double>? tint = null;
                var r = -1;
                for (var i = 0; i < Regions.Count && r < 0; i++)
                {
                    if (Regions[i].ContainsRest(x - shifts[i].X, y - shifts[i].Y))
                        r = i;
                }
                if (r >= 0)
                {
                    v = Evaluate(Regions[r].Texture, x - shifts[r].X, y - shifts[r].Y);
                    tint = Regions[r].Tint;
                }
                else
                {
                    v = Evaluate(Background, x, y);
                }
                var o = 3 * (y * Width + x);
                for (var c = 0; c < 3; c++)
                    rgb[o + c] = (byte)Math.Clamp(Math.Round(v * (tint?[c] ?? 1.0)), 0, 255);
            }
        }
    }

    /// <summary>
    /// The exact flow from frame s to frame s+t at a pixel of frame s: D_r(s+t) − D_r(s) on region r, 0 on the background.
    /// </summary>
    public (double X, double Y) TrueFlow(int start, int t, int x, int y)
    {
        var r = RegionAt(start, x, y);
        if (r < 0)
            return (0, 0);
        var a = Regions[r].Displacement(start / Fps);
        var b = Regions[r].Displacement((start + t) / Fps);
        return (b.X - a.X, b.Y - a.Y);
    }

    /// <summary>
    /// The region whose interior (at least <paramref name="margin"/> px from its edge) covers pixel
    /// (x, y) of frame <paramref name="start"/>, or −1: where flow error is measured.
    /// </summary>
    public int InteriorRegionAt(int start, double x, double y, double margin)
    {
        var time = start / Fps;
        for (var r = 0; r < Regions.Count; r++)
        {
            var (dx, dy) = Regions[r].Displacement(time);
            if (Regions[r].ContainsRestInterior(x - dx, y - dy, margin))
                return r;
        }
        return -1;
    }

    /// <summary>
    /// The true spectral coefficients of region r for start frame s: the unnormalized DFT
    /// (numpy convention) over n = 0 … N−1 of F_{n+1} = D(s+n+1) − D(s), bins 0 … K−1, as (re, im) per axis.
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

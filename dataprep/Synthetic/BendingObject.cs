using System.Text.Json.Serialization;

namespace GidCluster.Dataprep.Synthetic;

/// <summary>
/// A stalk, leaf or flame anchored at its base that bends as it sways: rest point q at distance u
/// along the axis moves by w(u)·D(τ) with w = s²(3 − s)/2, s = u/L (a cantilever's static
/// deflection shape: 0 and flat at the base, 1 at the tip), so the displacement field varies
/// smoothly over the object as it does on a real plant.
/// </summary>
/// <param name="Kind">stalk (a tapering band), leaf (a lens on its midrib) or flame (a teardrop).</param>
/// <param name="AxisDeg">The axis' lean from straight up, clockwise (positive leans right).</param>
/// <param name="Curvature">Sideways offset of the midline at the tip, as a fraction of the length (the midline is a parabola).</param>
public sealed record BendingObject(
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("base_x")] double BaseX,
    [property: JsonPropertyName("base_y")] double BaseY,
    [property: JsonPropertyName("axis_deg")] double AxisDeg,
    [property: JsonPropertyName("length")] double Length,
    [property: JsonPropertyName("width")] double Width,
    [property: JsonPropertyName("curvature")] double Curvature,
    IReadOnlyList<Wave> Texture,
    IReadOnlyList<double> Tint,
    IReadOnlyList<Oscillation> X,
    IReadOnlyList<Oscillation> Y) : Layer(Texture, Tint, X, Y)
{
    public static readonly string[] Kinds = ["stalk", "leaf", "flame"];

    /// <summary>Rest point → (u along the axis from the base, v across it from the bent midline).</summary>
    private (double U, double V) Local(double qx, double qy)
    {
        var a = AxisDeg * Math.PI / 180;
        var (rx, ry) = (qx - BaseX, qy - BaseY);
        // Axis (sin a, −cos a) points up in image coordinates; normal (cos a, sin a) to its right.
        var u = rx * Math.Sin(a) - ry * Math.Cos(a);
        var v = rx * Math.Cos(a) + ry * Math.Sin(a);
        var s = u / Length;
        return (u, v - Curvature * Length * s * s);
    }

    /// <summary>Half the width at distance u along the axis.</summary>
    private double HalfWidth(double u)
    {
        var s = u / Length;
        if (s is < 0 or > 1)
            return -1;
        return Kind switch
        {
            "stalk" => 0.5 * Width * (1 - 0.55 * s),
            "leaf" => 0.5 * Width * Math.Pow(Math.Sin(Math.PI * Math.Max(s, 0.04)), 0.7),
            // 2.6·√s·(1−s) peaks at 1 for s = 1/3: a teardrop broad near the base.
            _ => 0.5 * Width * Math.Min(1, 2.6 * Math.Sqrt(s) * (1 - s)),
        };
    }

    public override bool ContainsRest(double qx, double qy)
    {
        var (u, v) = Local(qx, qy);
        return Math.Abs(v) <= HalfWidth(u);
    }

    public override bool ContainsRestInterior(double qx, double qy, double margin)
    {
        var (u, v) = Local(qx, qy);
        return u >= margin && u <= Length - margin && Math.Abs(v) <= HalfWidth(u) - margin;
    }

    public override double Weight(double qx, double qy)
    {
        var s = Math.Clamp(Local(qx, qy).U / Length, 0, 1);
        return s * s * (3 - s) / 2;
    }

    public override (double X0, double Y0, double X1, double Y1) Bounds()
    {
        var a = AxisDeg * Math.PI / 180;
        var (vLo, vHi) = (Math.Min(0, Curvature * Length) - Width / 2, Math.Max(0, Curvature * Length) + Width / 2);
        double x0 = double.MaxValue, y0 = double.MaxValue, x1 = double.MinValue, y1 = double.MinValue;
        foreach (var u in new[] { 0, Length })
        {
            foreach (var v in new[] { vLo, vHi })
            {
                var x = BaseX + u * Math.Sin(a) + v * Math.Cos(a);
                var y = BaseY - u * Math.Cos(a) + v * Math.Sin(a);
                (x0, y0, x1, y1) = (Math.Min(x0, x), Math.Min(y0, y), Math.Max(x1, x), Math.Max(y1, y));
            }
        }
        return (x0, y0, x1, y1);
    }
}

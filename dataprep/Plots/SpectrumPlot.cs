using System.Globalization;
using GidCluster.Dataprep.OpenCv;
using GidCluster.Dataprep.Statistics;

namespace GidCluster.Dataprep.Plots;

/// <summary>
/// Draws the average power spectrum per bin for x and y on a log y-axis (the paper's Fig. 2
/// left) with OpenCV's drawing functions; PNG through imencode/imwrite.
/// </summary>
public static class SpectrumPlot
{
    private static readonly (double, double, double) Black = (0, 0, 0);
    private static readonly (double, double, double) Grid = (225, 225, 225);
    private static readonly (double, double, double) BlueX = (180, 119, 31);   // BGR of #1f77b4
    private static readonly (double, double, double) OrangeY = (14, 127, 255); // BGR of #ff7f0e

    public static Mat Render(PowerSpectrum spectrum, string title, int width = 900, int height = 560)
    {
        var img = new Mat(height, width, MatType.CV_8UC3);
        img.SetTo(255, 255, 255);
        const int left = 95, right = 30, top = 50, bottom = 80;
        int plotW = width - left - right, plotH = height - top - bottom;
        var values = Enumerable.Range(0, spectrum.Bins).SelectMany(k => new[] { spectrum.MeanX(k), spectrum.MeanY(k) }).Where(v => v > 0).ToList();
        if (values.Count == 0)
        {
            Cv2.PutText(img, "no samples: nothing to plot", left, top + plotH / 2, 0.8, Black, 2);
            return img;
        }
        var lo = Math.Floor(Math.Log10(values.Min()));
        var hi = Math.Ceiling(Math.Log10(values.Max()));
        if (hi <= lo) hi = lo + 1;
        int X(int k) => left + (int)Math.Round(plotW * (k + 0.5) / spectrum.Bins);
        int Y(double v) => top + (int)Math.Round(plotH * (hi - Math.Log10(Math.Max(v, Math.Pow(10, lo)))) / (hi - lo));

        for (var d = lo; d <= hi; d++)
        {
            var y = Y(Math.Pow(10, d));
            Cv2.Line(img, left, y, left + plotW, y, Grid);
            var label = $"1e{d.ToString(CultureInfo.InvariantCulture)}";
            var (tw, th) = Cv2.GetTextSize(label, 0.5);
            Cv2.PutText(img, label, left - tw - 8, y + th / 2, 0.5, Black);
        }
        for (var k = 0; k < spectrum.Bins; k++)
        {
            var x = X(k);
            Cv2.Line(img, x, top + plotH, x, top + plotH + 5, Black);
            if (k % 2 == 0 || spectrum.Bins <= 10)
            {
                var label = spectrum.FrequencyHz(k).ToString("0.0", CultureInfo.InvariantCulture);
                var (tw, th) = Cv2.GetTextSize(label, 0.45);
                Cv2.PutText(img, label, x - tw / 2, top + plotH + 10 + th, 0.45, Black);
            }
        }
        Cv2.Rectangle(img, left, top, left + plotW, top + plotH, Black);
        Series(img, spectrum.Bins, k => spectrum.MeanX(k), X, Y, BlueX);
        Series(img, spectrum.Bins, k => spectrum.MeanY(k), X, Y, OrangeY);

        var xLabel = "frequency (Hz), bin k = 0..15 at k*fps/N";
        var (xw, _) = Cv2.GetTextSize(xLabel, 0.55);
        Cv2.PutText(img, xLabel, left + (plotW - xw) / 2, height - 20, 0.55, Black);
        Cv2.PutText(img, "mean power |S_k|^2", 8, top - 12, 0.5, Black);
        var (tw2, _) = Cv2.GetTextSize(title, 0.7, 2);
        Cv2.PutText(img, title, Math.Max(left, left + (plotW - tw2) / 2), 30, 0.7, Black, 2);
        // Legend (top right inside the plot).
        var lx = left + plotW - 150;
        Cv2.Rectangle(img, lx - 10, top + 10, left + plotW - 10, top + 62, (255, 255, 255), -1);
        Cv2.Rectangle(img, lx - 10, top + 10, left + plotW - 10, top + 62, Black);
        Cv2.Line(img, lx, top + 26, lx + 30, top + 26, BlueX, 2);
        Cv2.PutText(img, "x motion", lx + 38, top + 31, 0.5, Black);
        Cv2.Line(img, lx, top + 48, lx + 30, top + 48, OrangeY, 2);
        Cv2.PutText(img, "y motion", lx + 38, top + 53, 0.5, Black);
        var caption = $"{spectrum.Samples} samples";
        Cv2.PutText(img, caption, left + 10, top + 25, 0.5, Black);
        return img;
    }

    private static void Series(Mat img, int bins, Func<int, double> value, Func<int, int> x, Func<double, int> y, (double, double, double) color)
    {
        for (var k = 0; k < bins; k++)
        {
            if (k > 0)
                Cv2.Line(img, x(k - 1), y(value(k - 1)), x(k), y(value(k)), color, 2);
            Cv2.Circle(img, x(k), y(value(k)), 4, color, -1);
        }
    }

    /// <summary>Renders and writes a PNG.</summary>
    public static void Write(PowerSpectrum spectrum, string title, string pngPath)
    {
        using var img = Render(spectrum, title);
        File.WriteAllBytes(pngPath, Cv2.ImEncode(".png", img));
    }
}

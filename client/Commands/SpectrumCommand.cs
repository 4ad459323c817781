using System.CommandLine;
using GidCluster.Dataprep.Pipeline;
using GidCluster.Dataprep.Plots;
using GidCluster.Dataprep.Statistics;

namespace GidCluster.Client.Commands;

/// <summary><c>gid spectrum DIR --out PNG</c>: the average power spectrum per bin for x and y (paper Fig. 2 left).</summary>
public static class SpectrumCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = $"A dataprep output folder, its {GidCluster.Dataprep.Manifest.ManifestFile.FileName} or its {DataprepRun.SpectrumFile}." };
        var output = new Option<string>("--out") { Description = "PNG to write.", Required = true };
        var title = new Option<string?>("--title") { Description = "Plot title." };
        var command = new Command("spectrum", "Plot the average motion power spectrum per frequency bin (x and y, log scale).") { input, output, title };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(input)!;
            // The manifest names the dataset; its spectrum sits next to it.
            var file = Directory.Exists(path) ? Path.Combine(path, DataprepRun.SpectrumFile)
                : Path.GetFileName(path) == GidCluster.Dataprep.Manifest.ManifestFile.FileName ? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, DataprepRun.SpectrumFile)
                : path;
            if (!File.Exists(file))
            {
                Console.Error.WriteLine($"gid spectrum: {file} not found (run gid dataprep --out {path} first)");
                return 2;
            }
            PowerSpectrum spectrum;
            try
            {
                spectrum = PowerSpectrum.FromJson(File.ReadAllText(file));
            }
            catch (Exception e) when (e is FormatException or System.Text.Json.JsonException)
            {
                Console.Error.WriteLine($"gid spectrum: {file} is not a spectrum file: {e.Message}");
                return 2;
            }
            var png = Path.GetFullPath(parse.GetValue(output)!);
            SpectrumPlot.Write(spectrum, parse.GetValue(title) ?? $"average power spectrum ({spectrum.Samples} samples)", png);
            Console.WriteLine($"wrote {png}");
            for (var k = 0; k < spectrum.Bins; k++)
                Console.WriteLine($"k={k,2} {spectrum.FrequencyHz(k),5:0.00} Hz  x {spectrum.MeanX(k),12:0.###e+0}  y {spectrum.MeanY(k),12:0.###e+0}");
            return 0;
        });
        return command;
    }
}

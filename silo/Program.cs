using GidCluster.Silo.Hosting;

// The silo host process: `GidCluster.Silo --role coordinator|worker|all --store sqlite:PATH|azure[?...] --blob URI ...`
// (see SiloOptions.Parse). The app itself is assembled in SiloHost.Build, shared with `gid up`.
SiloOptions options;
try
{
    options = SiloOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or IOException)
{
    Console.Error.WriteLine($"silo: {e.Message}");
    return 2;
}
var app = SiloHost.Build(options);
try
{
    await SiloHost.StartAsync(app);
}
catch (Exception e) when (e is System.Data.Common.DbException or IOException or TimeoutException or Orleans.Runtime.OrleansException or System.Net.Sockets.SocketException)
{
    Console.Error.WriteLine($"silo: cannot start: {e.GetType().Name}: {e.Message}");
    return 1;
}
// Tests and scripts read the URL as the line's last word.
Console.WriteLine($"silo {options.Id} ({options.Role}){(options.IsCoordinator ? $" gateway {SiloHost.Gateway(options)}" : "")} listening on {SiloHost.Address(app)}");
await app.WaitForShutdownAsync();
return 0;

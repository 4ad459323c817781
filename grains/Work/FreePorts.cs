using System.Net;
using System.Net.Sockets;

namespace GidCluster.Grains.Work;

/// <summary>Free loopback ports, for listeners that need a number up front (Orleans' endpoints, a rank rendezvous).</summary>
public static class FreePorts
{
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

using System.Net;
using System.Net.Sockets;

namespace GidCluster.TestSupport;

/// <summary>A free loopback port for a server a test starts (Azurite, a Gloo rendezvous).</summary>
public static class Loopback
{
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

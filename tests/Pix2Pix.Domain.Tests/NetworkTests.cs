using Pix2Pix.Domain.Networks;
using static TorchSharp.torch;

namespace Pix2Pix.Domain.Tests;

public class NetworkTests
{
    [Fact]
    public void CountParameters_DefaultUnet256AndBasicPatchGan_MatchReference()
    {
        var options = new NetworkOptions();
        using var generator = NetworkFactory.CreateGenerator(options);
        using var discriminator = NetworkFactory.CreateDiscriminator(options);
        Assert.Equal(54_413_955, NetworkFactory.CountParameters(generator));
        Assert.Equal(2_768_705, NetworkFactory.CountParameters(discriminator));
    }
}

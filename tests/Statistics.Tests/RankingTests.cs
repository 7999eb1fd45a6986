namespace BiasBench.Statistics.Tests;

public class RankingTests
{
    [Fact]
    public void TiesGetAverageRanksAndTieSum()
    {
        var ranks = Ranking.AverageRanks(new double[] { 10, 20, 10, 30, 20, 20 }, out double tieSum);
        Assert.Equal(new[] { 1.5, 4, 1.5, 6, 4, 4 }, ranks);
        Assert.Equal((8 - 2) + (27 - 3), tieSum); // groups of 2 and 3
    }

    [Fact]
    public void BinaryColumnsRankByCounting()
    {
        var ranks = Ranking.AverageRanks(new double[] { 1, 0, 0, 1, 1 }, out double tieSum);
        Assert.Equal(new[] { 4.0, 1.5, 1.5, 4.0, 4.0 }, ranks);
        Assert.Equal((8 - 2) + (27 - 3), tieSum);
    }

    [Fact]
    public void NonFiniteValuesAreRejected()
        => Assert.Throws<DegenerateDataException>(() => Ranking.AverageRanks(new double[] { 1, double.PositiveInfinity }));
}

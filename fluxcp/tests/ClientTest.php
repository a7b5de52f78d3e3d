<?php
use PHPUnit\Framework\TestCase;

/** The cURL client against the running aggregator that tests/tests/fluxcp.rs filled. */
class ClientTest extends TestCase
{
    private function client($api = null, $token = null)
    {
        return new P2PMonitor_Client($api ?: p2p_env('P2PMON_API'), $token ?: p2p_env('P2PMON_TOKEN'), 3);
    }

    public function testReadsTheRunningAggregator()
    {
        $client = $this->client();
        $now = $client->realtime();
        $this->assertSame(3, $now['hosts']['online']);
        $found = $client->hosts(array('search' => 'fluxcp-b', 'per_page' => 50));
        $this->assertSame(1, $found['total']);
        $this->assertSame('fluxcp-b', $found['hosts'][0]['id']);
        $this->assertEqualsWithDelta(91.0, $found['hosts'][0]['cpu_usage'], 0.001);
        $maps = $client->maps();
        $names = array_column($maps['maps'], 'map');
        $this->assertContains(p2p_env('P2PMON_HOSTILE'), $names);
    }

    public function testAWrongTokenIsAClearErrorWithoutTheToken()
    {
        try {
            $this->client(null, 'p2pa_wrong-token')->realtime();
            $this->fail('a wrong token must fail');
        } catch (P2PMonitor_Error $error) {
            $this->assertSame(P2PMonitor_Error::TOKEN, $error->kind);
            $this->assertStringContainsString('P2PMonitor.api_token', $error->getMessage());
            $this->assertStringNotContainsString('p2pa_wrong-token', $error->getMessage());
        }
    }

    public function testAnUnreachableAggregatorIsAClearError()
    {
        try {
            $this->client('http://127.0.0.1:1')->realtime();
            $this->fail('nothing listens there');
        } catch (P2PMonitor_Error $error) {
            $this->assertSame(P2PMonitor_Error::UNREACHABLE, $error->kind);
            $this->assertStringContainsString('127.0.0.1:1', $error->getMessage());
        }
    }

    public function testAnUnknownHostIsNotFoundAndABadQueryIsRefused()
    {
        try {
            $this->client()->host('no-such-host');
            $this->fail('no such host');
        } catch (P2PMonitor_Error $error) {
            $this->assertSame(P2PMonitor_Error::NOT_FOUND, $error->kind, $error->getMessage());
        }
        try {
            $this->client()->alerts(array('status' => 'bogus'));
            $this->fail('a bad status must be refused');
        } catch (P2PMonitor_Error $error) {
            $this->assertSame(P2PMonitor_Error::REFUSED, $error->kind, $error->getMessage());
            $this->assertStringContainsString('status', $error->getMessage());
        }
    }

    public function testATicketOpensTheFeed()
    {
        $ticket = $this->client()->wsTicket();
        $this->assertMatchesRegularExpression('/^p2pw_[0-9a-f]{64}$/', $ticket);
        $this->assertNotSame($ticket, $this->client()->wsTicket(), 'a new ticket each time');
    }

    public function testSilencesAreCreatedAndEnded()
    {
        $client = $this->client();
        $created = $client->createSilence(array('host' => 'fluxcp-c', 'ends_ms' => (int) (microtime(true) * 1000) + 60000,
            'author' => 'phpunit', 'comment' => 'maintenance'));
        $id = $created['silence']['id'];
        $this->assertContains($id, array_column($client->silences()['silences'], 'id'));
        $client->endSilence($id);
        $this->assertNotContains($id, array_column($client->silences()['silences'], 'id'));
    }
}

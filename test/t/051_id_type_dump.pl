# Copyright (c) the snowflake authors
#
# Tables with snowflake_id columns survive pg_dump and pg_restore, in the
# custom and the plain format: the column type, the primary key with its
# DEFAULT snowflake_nextval(), an array column, an index and a view that use
# the operators against bigint, a hash-partitioned table, and every value.
# COPY in binary format round-trips the type and refuses a negative value
# with the type's own error.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use SnowflakeTest;

my $node = PostgreSQL::Test::Cluster->new('id_type_dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'snowflake'\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', 'CREATE EXTENSION snowflake');
$node->safe_psql('postgres', 'CREATE EXTENSION snowflake');
ok(wait_for_mint($node)->{ok}, 'the server mints');

$node->safe_psql('src', q{
	CREATE TABLE orders (
		id snowflake_id PRIMARY KEY DEFAULT snowflake_nextval(),
		parent snowflake_id,
		legacy bigint,
		related snowflake_id[],
		item text);
	INSERT INTO orders (legacy, item)
		SELECT g, 'item ' || g FROM generate_series(1, 500) g;
	UPDATE orders o SET parent = p.id
	  FROM (SELECT id, lead(id) OVER (ORDER BY id) AS child FROM orders) p
	 WHERE o.id = p.child;
	UPDATE orders SET related = ARRAY[id, parent]::snowflake_id[] WHERE parent IS NOT NULL;
	INSERT INTO orders (id, legacy, item) VALUES (0, 0, 'zero'), (9223372036854775807, -1, 'max');
	CREATE INDEX orders_parent ON orders (parent);
	CREATE INDEX orders_parent_hash ON orders USING hash (parent);
	CREATE VIEW recent AS
		SELECT id, item FROM orders
		 WHERE id >= snowflake_from_timestamp('2024-01-02 00:00:00+00'::timestamptz)
		   AND id <> legacy;
	CREATE TABLE parts (id snowflake_id NOT NULL, v text) PARTITION BY HASH (id);
	CREATE TABLE parts_0 PARTITION OF parts FOR VALUES WITH (MODULUS 2, REMAINDER 0);
	CREATE TABLE parts_1 PARTITION OF parts FOR VALUES WITH (MODULUS 2, REMAINDER 1);
	INSERT INTO parts SELECT id, item FROM orders;
});

# Everything a restore must give back, as text.
my %checks = (
	'the column types' => q{
		SELECT string_agg(attrelid::regclass || '.' || attname || ' ' || format_type(atttypid, atttypmod), ', '
						  ORDER BY attrelid::regclass::text, attnum)
		  FROM pg_attribute
		 WHERE attrelid IN ('orders'::regclass, 'parts'::regclass, 'recent'::regclass)
		   AND attnum > 0 AND NOT attisdropped},
	'the rows' => q{
		SELECT md5(string_agg(format('%s|%s|%s|%s|%s', id, parent, legacy, related, item), ';' ORDER BY id))
		  FROM orders},
	"the partitions' rows" => q{
		SELECT string_agg(tableoid::regclass || ':' || n, ',' ORDER BY tableoid::regclass::text)
		  FROM (SELECT tableoid, count(*) AS n FROM parts GROUP BY tableoid) p},
	"the view's rows" => q{SELECT count(*) FROM recent},
	'the indexes' => q{
		SELECT string_agg(indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid), '; '
						  ORDER BY indexrelid::regclass::text)
		  FROM pg_index WHERE indrelid = 'orders'::regclass},
	'the DEFAULT' => q{SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef
					WHERE adrelid = 'orders'::regclass},
	'the JSON' => q{SELECT json_agg(o ORDER BY id)::text FROM (SELECT id, parent, related FROM orders
															ORDER BY id LIMIT 3) o},
);
my %before = map { $_ => $node->safe_psql('src', $checks{$_}) } keys %checks;
like($before{'the column types'}, qr/orders\.id snowflake_id, orders\.parent snowflake_id, .*orders\.related snowflake_id\[\]/,
	'the source has snowflake_id columns');
like($before{'the JSON'}, qr/^\[\{"id":"0","parent":null,"related":null\}, \n \{"id":"\d+"/,
	'the source renders its IDs as JSON strings');
like($before{"the partitions' rows"}, qr/^parts_0:\d+,parts_1:\d+$/, 'both partitions have rows');

for my $format ('custom', 'plain')
{
	my $db = "restored_$format";
	my $file = $node->basedir . "/src.$format";
	$node->command_ok(
		[ 'pg_dump', "--format=$format", '-d', $node->connstr('src'), '-f', $file ],
		"pg_dump --format=$format of tables with snowflake_id columns");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	if ($format eq 'custom')
	{
		$node->command_ok(
			[ 'pg_restore', '--exit-on-error', '-d', $node->connstr($db), $file ],
			'pg_restore of that dump');
	}
	else
	{
		like(slurp_file($file), qr/\n0\t\\N\t0\t\\N\tzero\n/,
			'the plain dump writes a snowflake_id as its decimal digits');
		$node->command_ok(
			[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-f', $file ],
			'psql restores the plain dump');
	}
	for my $check (sort keys %checks)
	{
		is($node->safe_psql($db, $checks{$check}), $before{$check},
			"$format: $check, as before the dump");
	}

	# The restored primary key is a snowflake_id index that bigints use.
	my $plan = $node->safe_psql($db, q{
		SET enable_seqscan = off; SET enable_bitmapscan = off;
		EXPLAIN (COSTS OFF) SELECT item FROM orders WHERE id = 0::bigint});
	like($plan, qr/Index Scan using orders_pkey/, "$format: the restored primary key serves id = bigint");

	# And the table goes on minting above what it had.
	is($node->safe_psql($db, q{
		INSERT INTO orders (item) VALUES ('new') RETURNING
			id > (SELECT max(id) FROM orders WHERE id < 9223372036854775807 AND item <> 'new')}),
		't', "$format: the restored table mints new, larger IDs");
}

# COPY in binary format: the type's send and receive.
my $bin = $node->basedir . '/orders.bin';
$node->safe_psql('src', qq{
	COPY (SELECT id, parent FROM orders) TO '$bin' WITH (FORMAT binary);
	CREATE TABLE orders_copy (id snowflake_id, parent snowflake_id);
	COPY orders_copy FROM '$bin' WITH (FORMAT binary);
});
is( $node->safe_psql('src', q{
		SELECT count(*) FROM orders o JOIN orders_copy c
			ON c.id = o.id AND c.parent IS NOT DISTINCT FROM o.parent}),
	$node->safe_psql('src', 'SELECT count(*) FROM orders'),
	'COPY BINARY round-trips snowflake_id values');

# A bigint file is the same format: its negative values are refused.
my $neg = $node->basedir . '/negative.bin';
$node->safe_psql('src', qq{
	COPY (SELECT v FROM (VALUES (5::bigint), (-5::bigint)) x(v)) TO '$neg' WITH (FORMAT binary)});
my $r = try_sql($node, qq{
	BEGIN;
	CREATE TABLE neg_copy (id snowflake_id);
	COPY neg_copy FROM '$neg' WITH (FORMAT binary);
	COMMIT;}, dbname => 'src');
is($r->{sqlstate}, '22003', 'COPY BINARY of a negative value is refused with 22003');
like($r->{err}, qr/snowflake_id cannot be negative: -5/, 'and the message says so');
is($node->safe_psql('src', q{SELECT count(*) FROM pg_class WHERE relname = 'neg_copy'}),
	'0', 'nothing of the refused COPY is left');

$node->stop;
done_testing();
